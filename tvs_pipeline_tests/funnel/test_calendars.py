import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.funnel.calendars import (
    CALENDAR_BOUNDS,
    market_date,
    session_opens,
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


# ------------------------------------------------------------------- session opens (issue 17)
@pytest.mark.parametrize(
    ("calendar", "day", "expected"),
    [
        ("24/7", "2025-06-07", "2025-06-07 00:00"),  # crypto: midnight UTC, weekends too
        ("XNYS", "2025-01-06", "2025-01-06 14:30"),  # 09:30 New York, EST
        ("XNYS", "2025-06-02", "2025-06-02 13:30"),  # EDT
        ("24/5", "2025-01-06", "2025-01-05 22:00"),  # Monday opens Sunday 17:00 New York, EST
        ("24/5", "2025-06-03", "2025-06-02 21:00"),  # EDT
        ("24/5", "2025-03-10", "2025-03-09 21:00"),  # the Sunday the clocks change (EDT at 17:00)
        ("CMES", "2025-01-06", "2025-01-05 23:00"),  # Globex: 17:00 Chicago the evening before
        ("CMES", "2025-07-07", "2025-07-06 22:00"),  # CDT
        ("CMES", "2025-01-02", "2025-01-01 23:00"),  # after New Year's Day, closed
    ],
    ids=["crypto", "nyse-winter", "nyse-summer", "fx-winter", "fx-summer", "fx-dst-sunday",
         "cme-winter", "cme-summer", "cme-after-holiday"],
)  # fmt: skip
def test_session_opens_by_hand(calendar, day, expected):
    found = session_opens(calendar, pd.DatetimeIndex([day]))
    assert list(found) == [pd.Timestamp(expected, tz="UTC")]


@pytest.mark.parametrize(
    ("calendar", "asset_class"),
    [("24/7", "crypto"), ("XNYS", "equity"), ("24/5", "forex"), ("CMES", "futures")],
)
def test_the_plus_four_hour_rule_gives_every_session_back(calendar, asset_class):
    """Property: a bar stamped at its session's open is dated that session by market_date, for
    every session of two years (both daylight-saving switches, every holiday)."""
    days = sessions(calendar, "2024-01-01", "2025-12-31")
    stamps = pd.Series(session_opens(calendar, days))
    assert list(market_date(stamps, asset_class)) == list(days)
    if asset_class in ("forex", "futures"):  # stamped the evening before: the UTC date is not it
        assert (stamps.dt.tz_localize(None).dt.normalize() == days - pd.Timedelta(days=1)).all()
        assert stamps.dt.hour.between(20, 23).all()


@pytest.mark.parametrize(
    ("calendar", "day", "match"),
    [("24/5", "2025-06-07", "2025-06-07 is a weekend"),
     ("CMES", "2025-12-25", "2025-12-25 is not a session"),
     ("NOPE", "2025-06-02", "unknown calendar name")],
    ids=["fx-saturday", "cme-christmas", "unknown"],
)  # fmt: skip
def test_session_opens_refuses_a_day_that_is_no_session(calendar, day, match):
    with pytest.raises(ConfigError, match=match):
        session_opens(calendar, pd.DatetimeIndex([day]))


def test_cme_globex_calendar_has_its_holidays_and_no_weekend():
    """CMES (exchange_calendars' CME Globex): closed on Good Friday and Christmas, open on
    Martin Luther King Day (Globex trades, settles late), never on a weekend; 24/5 has no
    holidays (the FX market keeps none of its own)."""
    cme = sessions("CMES", "2025-01-01", "2025-12-31")
    for closed in ("2025-04-18", "2025-12-25", "2025-01-01"):
        assert pd.Timestamp(closed) not in cme
    assert pd.Timestamp("2025-01-20") in cme
    assert (cme.day_of_week < 5).all()
    fx = sessions("24/5", "2025-01-01", "2025-12-31")
    assert len(fx) == 261 and pd.Timestamp("2025-12-25") in fx
