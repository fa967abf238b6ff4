from datetime import date

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.funnel.normalization import (
    align_to_shared_sessions,
    bar_window,
    check_panel,
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
