import os
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.funnel.normalization import (
    align_to_shared_sessions,
    bar_window,
    check_bar_partitions,
    check_panel,
    last_stored_dates,
    read_bar_span,
    read_bar_window,
    returns_panel,
    wide_returns,
)
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.lake.storage import partition_path, write_parquet_atomic


def bars(symbol, days, closes):
    closes = np.asarray(closes, dtype=float)
    return pd.DataFrame(
        {
            "symbol": symbol,
            "market_date": pd.to_datetime(days).astype("datetime64[ns]"),
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
            "volume": 1.0,
        }
    )


def test_returns_on_own_sessions():
    frame = bars("A", ["2025-01-02", "2025-01-03", "2025-01-06"], [100, 110, 99])
    panel = returns_panel(frame)
    np.testing.assert_allclose(panel["ret"], [0.10, -0.10], rtol=1e-12)
    assert panel["market_date"].dt.strftime("%Y-%m-%d").tolist() == ["2025-01-03", "2025-01-06"]


def test_crypto_weekend_compounds_into_monday():
    # Fri 3 Jan, Sat 4, Sun 5, Mon 6 Jan 2025.
    days = pd.to_datetime(["2025-01-02", "2025-01-03", "2025-01-04", "2025-01-05", "2025-01-06"])
    wide = pd.DataFrame(
        {"BTC": [0.01, 0.02, 0.03, -0.01, 0.05], "SPY": [0.001, 0.002, np.nan, np.nan, 0.003]},
        index=days,
    )
    before = wide.copy()
    aligned = align_to_shared_sessions(wide, {"BTC": "24/7", "SPY": "XNYS"})
    pd.testing.assert_frame_equal(wide, before)
    assert list(aligned.index.strftime("%a")) == ["Thu", "Fri", "Mon"]
    np.testing.assert_allclose(aligned.loc["2025-01-06", "BTC"], 1.03 * 0.99 * 1.05 - 1, rtol=1e-12)
    np.testing.assert_allclose(aligned.loc["2025-01-06", "SPY"], 0.003, rtol=1e-12)
    # Never dropped, never zero-filled: the product over the span is preserved.
    total = (1 + wide["BTC"].iloc[1:]).prod()
    np.testing.assert_allclose((1 + aligned["BTC"].dropna()).prod(), total, rtol=1e-12)


def test_window_takes_latest_fetch_and_ignores_later_partitions():
    span = pd.concat(
        [
            bars("A", ["2025-01-01", "2025-01-02"], [1, 2]).assign(date=pd.Timestamp("2025-01-02")),
            bars("A", ["2025-01-02", "2025-01-03"], [2.5, 3]).assign(
                date=pd.Timestamp("2025-01-03")
            ),
            bars("A", ["2025-01-03", "2025-01-04"], [9, 9]).assign(date=pd.Timestamp("2025-01-04")),
        ]
    )
    window = bar_window(span, date(2025, 1, 3), 10)
    assert window["close"].tolist() == [1, 2.5, 3]


def test_read_window_from_the_lake(tmp_path):
    root = str(tmp_path / "lake")
    write_parquet_atomic(
        bars("A", ["2025-01-01", "2025-01-02"], [1, 2]), partition_path(root, "bars", "2025-01-02")
    )
    write_parquet_atomic(bars("A", ["2025-01-03"], [3]), partition_path(root, "bars", "2025-01-03"))
    write_parquet_atomic(bars("A", ["2025-01-04"], [4]), partition_path(root, "bars", "2025-01-04"))
    window = read_bar_window(LakeReader(root), ["A"], date(2025, 1, 3), 500)
    assert window["close"].tolist() == [1, 2, 3]
    assert window["market_date"].dtype == "datetime64[ns]"


def test_check_panel_names_problems():
    panel = pd.DataFrame(
        {
            "symbol": ["A", "B"],
            "market_date": pd.to_datetime(["2025-01-02", "2025-01-09"]),
            "ret": [0.1, np.inf],
        }
    )
    problems = check_panel(panel, ["A"], date(2025, 1, 5))
    assert any("not OK" in p for p in problems)
    assert any("non-finite" in p for p in problems)
    assert any("after" in p for p in problems)
    assert check_panel(panel.iloc[:1], ["A"], date(2025, 1, 5)) == []


def test_wide_returns_shape():
    panel = returns_panel(
        pd.concat(
            [
                bars("A", ["2025-01-02", "2025-01-03"], [1, 2]),
                bars("B", ["2025-01-03", "2025-01-04"], [1, 3]),
            ]
        )
    )
    wide = wide_returns(panel)
    assert list(wide.columns) == ["A", "B"]
    assert np.isnan(wide.loc["2025-01-04", "A"])


def test_align_needs_every_calendar():
    wide = pd.DataFrame({"X": [0.1]}, index=pd.to_datetime(["2025-01-02"]))
    with pytest.raises(Exception, match="no calendar"):
        align_to_shared_sessions(wide, {})


def test_aligned_values_do_not_depend_on_where_the_frame_starts():
    # Two windows ending on different days must agree to the bit on the sessions they share:
    # the simulation reuses allocation answers keyed by those bytes.
    rng = np.random.default_rng(5)
    days = pd.date_range("2025-01-01", "2025-06-30")
    wide = pd.DataFrame(rng.normal(0, 0.02, (len(days), 2)), index=days, columns=["BTC", "SPY"])
    wide.loc[wide.index.day_of_week >= 5, "SPY"] = np.nan
    calendars = {"BTC": "24/7", "SPY": "XNYS"}
    full = align_to_shared_sessions(wide, calendars)
    later = align_to_shared_sessions(wide.iloc[41:], calendars)
    shared = later.index[1:]
    assert later.iloc[0].isna().all()
    np.testing.assert_array_equal(full.loc[shared].to_numpy(), later.loc[shared].to_numpy())


# ------------------------------------------------- the bars partitions a window needs (issue 18.3)
DAYS = ["2025-01-02", "2025-01-03", "2025-01-04", "2025-01-05"]


@pytest.fixture
def bars_lake(tmp_path):
    """Bars fetched on 2 .. 5 January: A's history sits in the first day's partition, B's in
    the second's, then a tail a day; fetch_failures beside each day, as the bars step writes."""
    root = str(tmp_path / "lake")
    fetched = {
        "2025-01-02": bars("A", ["2024-12-30", "2024-12-31", "2025-01-02"], [1, 2, 3]),
        "2025-01-03": pd.concat(
            [
                bars("A", ["2025-01-03"], [4]),
                bars("B", ["2024-12-31", "2025-01-02", "2025-01-03"], [5, 6, 7]),
            ]
        ),
        "2025-01-04": bars("A", [], []),  # nothing new that day: still a file
        "2025-01-05": pd.concat([bars("A", ["2025-01-05"], [8]), bars("B", ["2025-01-05"], [9])]),
    }
    for day, frame in fetched.items():
        write_parquet_atomic(frame, partition_path(root, "bars", day))
        failures = pd.DataFrame({"symbol": pd.Series([], dtype="str"), "reason": ""})
        write_parquet_atomic(failures, partition_path(root, "fetch_failures", day))
    return root


def _bars_file(root: str, day: str) -> str:
    return partition_path(root, "bars", day)


def test_a_complete_lake_reads_every_listing_and_its_empty_days(bars_lake):
    window = read_bar_window(LakeReader(bars_lake), ["A", "B"], date(2025, 1, 5), 30)
    assert window.groupby("symbol").size().to_dict() == {"A": 5, "B": 4}
    assert check_bar_partitions(bars_lake, date(2024, 12, 7), date(2025, 1, 5)) == DAYS
    assert last_stored_dates(LakeReader(bars_lake), date(2025, 1, 5)) == {
        "A": pd.Timestamp("2025-01-03"),
        "B": pd.Timestamp("2025-01-03"),
    }


@pytest.mark.parametrize("gone", ["2025-01-03", "2025-01-02"], ids=["middle", "first"])
def test_a_deleted_partition_is_an_error_naming_it(bars_lake, gone):
    # Before: B's whole history (or A's) vanished from the window and the read said nothing.
    os.remove(_bars_file(bars_lake, gone))
    reader = LakeReader(bars_lake)
    with pytest.raises(DataError, match=f"bars {gone}: partition missing: .*date={gone}"):
        read_bar_window(reader, ["A", "B"], date(2025, 1, 5), 30)
    with pytest.raises(DataError, match=f"bars {gone}: partition missing"):
        read_bar_span(reader, ["A", "B"], date(2025, 1, 4), date(2025, 1, 5), 30)
    with pytest.raises(DataError, match=f"bars {gone}: partition missing"):
        last_stored_dates(reader, date(2025, 1, 5))


def _rename_close(frame):
    return frame.rename(columns={"close": "Close"})


def _close_as_text(frame):
    return frame.assign(close=frame["close"].astype("str"))


def _extra_column(frame):
    return frame.assign(adj_close=frame["close"])


def _no_volume(frame):
    return frame.drop(columns="volume")


def _dates_as_text(frame):
    return frame.assign(market_date=frame["market_date"].dt.strftime("%Y-%m-%d"))


@pytest.mark.parametrize(
    ("change", "found"),
    [
        (_rename_close, "close double \\(found nothing\\), unexpected column Close"),
        (_close_as_text, "close double \\(found large_string\\)"),
        (_extra_column, "unexpected column adj_close"),
        (_no_volume, "volume double \\(found nothing\\)"),
        (_dates_as_text, "market_date timestamp \\(found large_string\\)"),
    ],
    ids=["renamed", "retyped", "extra", "missing", "dates-as-text"],
)
def test_a_file_of_another_layout_is_an_error_naming_it(bars_lake, change, found):
    # Before: read by name, a renamed or missing column came back as nulls, silently.
    path = _bars_file(bars_lake, "2025-01-03")
    write_parquet_atomic(change(pd.read_parquet(path)), path)
    reader = LakeReader(bars_lake)
    message = f"bars file {path}: not the stored bar layout: expected {found}"
    with pytest.raises(DataError, match=message):
        read_bar_window(reader, ["A", "B"], date(2025, 1, 5), 30)
    with pytest.raises(DataError, match="not the stored bar layout"):
        last_stored_dates(reader, date(2025, 1, 5))


def test_a_corrupt_file_in_the_window_is_named(bars_lake):
    path = _bars_file(bars_lake, "2025-01-04")
    with open(path, "wb") as handle:
        handle.write(b"not parquet")
    with pytest.raises(DataError, match=f"{path}: corrupt Parquet partition"):
        read_bar_window(LakeReader(bars_lake), ["A"], date(2025, 1, 5), 30)


def test_only_the_window_is_checked(bars_lake):
    # A bad file outside the window, or after it, does not stop a read that does not need it.
    os.remove(_bars_file(bars_lake, "2025-01-05"))
    window = read_bar_window(LakeReader(bars_lake), ["A", "B"], date(2025, 1, 4), 30)
    assert window["market_date"].max() == pd.Timestamp("2025-01-03")
    assert last_stored_dates(LakeReader(bars_lake), date(2025, 1, 5))  # reads 2 .. 4 January
    path = _bars_file(bars_lake, "2025-01-02")
    write_parquet_atomic(_rename_close(pd.read_parquet(path)), path)
    assert check_bar_partitions(bars_lake, date(2025, 1, 3), date(2025, 1, 4)) == DAYS[1:3]


def test_a_window_before_the_lake_needs_nothing(bars_lake, tmp_path):
    assert check_bar_partitions(bars_lake, date(2024, 12, 1), date(2025, 1, 1)) == []
    empty = str(tmp_path / "empty-lake")
    assert check_bar_partitions(empty, date(2025, 1, 1), date(2025, 1, 5)) == []
    assert last_stored_dates(LakeReader(bars_lake), date(2025, 1, 2)) == {}
