import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.funnel.calendars import (
    CALENDAR_BOUNDS,
    market_date,
    sessions,
    sessions_before,
    shared_sessions,
)


@pytest.mark.parametrize(
    ("stamp", "asset_class", "expected"),
    [
        ("2025-06-30 00:00", "crypto", "2025-06-30"),
        ("2025-06-30 23:59", "crypto", "2025-06-30"),
        ("2025-06-30 13:30", "equity", "2025-06-30"),  # NYSE open in summer (EDT)
        ("2025-01-02 14:30", "etf", "2025-01-02"),  # NYSE open in winter (EST)
        ("2025-06-29 21:00", "forex", "2025-06-30"),  # Sunday-evening open is Monday's session
        ("2025-06-29 22:00", "futures", "2025-06-30"),
        ("2025-06-30 19:59", "forex", "2025-06-30"),
        ("2025-06-30 20:00", "futures", "2025-07-01"),
    ],
    ids=[
        "crypto-midnight",
        "crypto-late",
        "nyse-summer",
        "nyse-winter",
        "fx-sunday",
        "futures-sunday",
        "fx-before-20",
        "futures-at-20",
    ],
)
def test_market_date(stamp, asset_class, expected):
    got = market_date(pd.Series([pd.Timestamp(stamp, tz="UTC")]), asset_class)
    assert got.iloc[0] == pd.Timestamp(expected)


def test_market_date_accepts_epoch_seconds_as_naive_utc():
    stamps = pd.to_datetime(pd.Series([1751290200]), unit="s")  # 2025-06-30 13:30 UTC
    assert market_date(stamps, "equity").iloc[0] == pd.Timestamp("2025-06-30")


def test_sessions_and_shared_sessions():
    xnys = sessions("XNYS", "2025-12-24", "2025-12-29")
    assert [d.day for d in xnys] == [24, 26, 29]  # Christmas and the weekend are closed
    assert len(sessions("24/7", "2025-12-24", "2025-12-29")) == 6
    assert list(shared_sessions(["24/7", "XNYS"], "2025-12-24", "2025-12-29")) == list(xnys)
    assert len(sessions("XNYS", "2025-12-29", "2025-12-24")) == 0


def test_unknown_calendar():
    with pytest.raises(ConfigError, match="calendar 'NOPE': unknown calendar name"):
        sessions("NOPE", "2025-01-01", "2025-01-10")


def test_sessions_before_numbers_sessions_on_a_fixed_grid():
    first = CALENDAR_BOUNDS[0]
    assert sessions_before(["24/7"], first) == 0
    assert sessions_before(["24/7"], first + pd.Timedelta(days=10)) == 10
    # NYSE: 2026-01-02 (Fri) and 2026-01-05 (Mon) are consecutive sessions.
    friday = sessions_before(["XNYS"], pd.Timestamp("2026-01-02"))
    assert sessions_before(["XNYS"], pd.Timestamp("2026-01-05")) == friday + 1
    # A mixed set counts the sessions every calendar shares, whatever the order given.
    assert sessions_before(["24/7", "XNYS"], "2026-01-05") == sessions_before(
        ["XNYS", "24/7"], "2026-01-05"
    )
    assert sessions_before(["24/7", "XNYS"], "2026-01-05") == friday + 1
