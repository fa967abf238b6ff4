import re
from datetime import date

import pandas as pd
import pytest

from tvs_pipeline.errors import DataError, LookAheadError
from tvs_pipeline.funnel.history import (
    HistorySync,
    advance_last_stored,
    assert_not_after,
    failure_table,
    fetch_bars,
    plan_requests,
    validate_bars,
)

AS_OF = date(2025, 6, 30)


def test_new_symbols_get_the_full_window_known_ones_a_tail():
    last = {"KNOWN": pd.Timestamp("2025-06-28"), "OLD": pd.Timestamp("2023-01-01")}
    plan = plan_requests(["NEW", "KNOWN", "OLD"], last, AS_OF, 500, 3).set_index("symbol")
    assert plan.loc["NEW", "kind"] == "full"
    assert plan.loc["NEW", "start"] == pd.Timestamp("2024-02-17")
    assert plan.loc["KNOWN", "kind"] == "tail"
    assert plan.loc["KNOWN", "start"] == pd.Timestamp("2025-06-25")
    assert plan.loc["OLD", "kind"] == "full"
    assert (plan["end"] == pd.Timestamp(AS_OF)).all()


def test_overlap_parameter_changes_the_tail():
    last = {"K": pd.Timestamp("2025-06-28")}
    short = plan_requests(["K"], last, AS_OF, 500, 0)
    assert short.loc[0, "start"] == pd.Timestamp("2025-06-28")


class FakeSource:
    """A tiny in-memory source that answers any window from a fixed table."""

    def __init__(self, table):
        self.table = table
        self.calls = []

    def bars(self, symbols, start, end):
        self.calls.append((tuple(symbols), start, end))
        t = self.table
        keep = t["symbol"].isin(symbols) & t["date"].between(pd.Timestamp(start), pd.Timestamp(end))
        return t.loc[keep]

    def scan(self, scanner, as_of):  # pragma: no cover - not used here
        raise NotImplementedError


def table(days, symbol="A"):
    days = pd.to_datetime(days)
    return pd.DataFrame(
        {
            "symbol": symbol,
            "date": days,
            "open": 1.0,
            "high": 1.0,
            "low": 1.0,
            "close": 1.0,
            "volume": 1.0,
        }
    )


def test_fetch_batches_by_window_and_clips():
    source = FakeSource(
        pd.concat([table(["2025-06-29", "2025-06-30", "2025-07-01"], s) for s in "AB"])
    )
    plan = plan_requests(["A", "B"], {}, AS_OF, 5, 0)
    got = fetch_bars(source, plan, AS_OF)
    assert len(source.calls) == 1
    assert got["market_date"].max() == pd.Timestamp(AS_OF)
    assert list(got.columns) == ["symbol", "market_date", "open", "high", "low", "close", "volume"]
    assert advance_last_stored({}, got) == {"A": pd.Timestamp(AS_OF), "B": pd.Timestamp(AS_OF)}


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (table(["2025-01-01"]).drop(columns=["close"]), "missing columns \\['close'\\]"),
        (table(["2025-01-01"]).assign(close="x"), "close is not numeric"),
        (table(["2025-01-01", "2025-01-01"]), "duplicate bar A 2025-01-01"),
    ],
    ids=["missing-column", "not-numeric", "duplicate"],
)
def test_malformed_bars_are_named(frame, message):
    with pytest.raises(DataError, match=message):
        validate_bars(frame)


def test_assert_not_after():
    frame = pd.DataFrame({"market_date": pd.to_datetime(["2025-07-01"])})
    with pytest.raises(LookAheadError, match="2025-07-01 is after as-of date 2025-06-30"):
        assert_not_after(frame, AS_OF)


def test_bar_open_instants_become_market_dates_once():
    frame = pd.DataFrame(
        {
            "symbol": ["NYSE:A", "FX:EURUSD", "BINANCE:BTCUSDT"],
            "time": pd.to_datetime(
                ["2025-06-30 13:30", "2025-06-29 21:00", "2025-06-30 00:00"], utc=True
            ),
            "open": 1.0,
            "high": 1.0,
            "low": 1.0,
            "close": 1.0,
            "volume": 1.0,
        }
    )
    classes = {"NYSE:A": "equity", "FX:EURUSD": "forex", "BINANCE:BTCUSDT": "crypto"}
    out = validate_bars(frame, asset_classes=classes).set_index("symbol")["market_date"]
    assert (out == pd.Timestamp("2025-06-30")).all()
    with pytest.raises(DataError, match="no asset class for \\['FX:EURUSD'\\]"):
        validate_bars(frame, asset_classes={"NYSE:A": "equity", "BINANCE:BTCUSDT": "crypto"})


def test_an_open_instant_decides_the_date_a_source_also_gives():
    """The demo market gives date and time: with the asset classes known, the +4 h rule dates
    the bar (a Sunday 22:00 UTC FX bar is Monday's) and a date it contradicts is an error."""
    frame = pd.DataFrame(
        {
            "symbol": ["FX:EURUSD", "COMEX:GC1!"],
            "date": pd.to_datetime(["2025-01-06", "2025-01-06"]),
            "time": pd.to_datetime(["2025-01-05 22:00", "2025-01-05 23:00"], utc=True),
            "open": 1.0,
            "high": 1.0,
            "low": 1.0,
            "close": 1.0,
            "volume": 1.0,
        }
    )
    classes = {"FX:EURUSD": "forex", "COMEX:GC1!": "futures"}
    out = validate_bars(frame, asset_classes=classes)
    assert list(out["market_date"]) == [pd.Timestamp("2025-01-06")] * 2
    assert validate_bars(frame)["market_date"].eq(pd.Timestamp("2025-01-06")).all()  # no classes
    wrong = frame.assign(date=pd.to_datetime(["2025-01-05", "2025-01-06"]))  # the UTC date
    message = "FX:EURUSD bar at 2025-01-05 22:00:00+00:00 is dated 2025-01-05; its open instant"
    with pytest.raises(DataError, match=re.escape(f"{message} gives 2025-01-06")):
        validate_bars(wrong, asset_classes=classes)
    validate_bars(wrong)  # without the classes the source's date stands


class ReportingSource(FakeSource):
    """A fake source that keeps a fetch report: symbol C never arrives."""

    def fetch_report(self, clear=False):
        return pd.DataFrame({"symbol": ["C"], "status": ["MISSING"], "reason": ["unknown symbol"]})


def test_a_range_fetches_day_by_day_each_planned_on_the_days_before():
    days = pd.date_range("2025-06-01", "2025-07-01").strftime("%Y-%m-%d").tolist()
    source = ReportingSource(pd.concat([table(days, s) for s in "AB"]))
    sync = HistorySync(source, {"B": pd.Timestamp("2025-06-27")}, 10, 1)
    discovered = pd.DataFrame({"symbol": ["A", "B", "A"], "asset_class": "crypto"})
    first, failed = sync.fetch_day(discovered, date(2025, 6, 29))
    # A is new: its full window; B is known: a tail from its last bar less the overlap
    assert first.groupby("symbol")["market_date"].min().to_dict() == {
        "A": pd.Timestamp("2025-06-20"),
        "B": pd.Timestamp("2025-06-26"),
    }
    assert failed == {"C": "unknown symbol"}
    second, _ = sync.fetch_day(discovered, AS_OF)
    # both are known now: a tail from the day before their last bar (one day of overlap)
    assert set(second["market_date"]) == set(pd.date_range("2025-06-28", AS_OF))
    assert sync.requests_ == {"full": 1, "tail": 3}
    assert sync.last_stored_ == {"A": pd.Timestamp(AS_OF), "B": pd.Timestamp(AS_OF)}


def test_failure_table_is_one_row_per_failed_fetch_in_day_and_symbol_order():
    table_ = failure_table(
        {"2025-06-30": {"B": "timeout", "A": "unknown"}, "2025-06-29": {"C": "x"}}
    )
    assert table_[["symbol", "reason"]].values.tolist() == [
        ["C", "x"],
        ["A", "unknown"],
        ["B", "timeout"],
    ]
    assert table_["date"].tolist() == [pd.Timestamp("2025-06-29")] + [pd.Timestamp(AS_OF)] * 2
    empty = failure_table({})
    assert list(empty.columns) == ["date", "symbol", "reason"] and empty.empty
    assert str(empty["date"].dtype) == "datetime64[ns]" and empty["symbol"].dtype == "str"
