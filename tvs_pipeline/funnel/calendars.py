"""Trading calendars: expected sessions per calendar, and the one market-date rule."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

import pandas as pd

from tvs_pipeline.errors import ConfigError

if TYPE_CHECKING:
    import exchange_calendars as xcals

__all__ = [
    "CALENDAR_BOUNDS",
    "calendar_for",
    "market_date",
    "session_opens",
    "sessions",
    "sessions_before",
    "shared_sessions",
]

# exchange_calendars builds a calendar once per bounds; one wide span serves every request.
CALENDAR_BOUNDS = (pd.Timestamp("2015-01-01"), pd.Timestamp("2032-12-31"))
ALL_DAYS = "24/7"
WEEKDAYS = "24/5"
# FX trades 24 hours five days a week; its trading day rolls at 17:00 New York (Sunday 17:00 opens
# Monday), where TradingView stamps an FX daily bar. exchange_calendars' "24/5" has the weekdays
# (no holidays: the FX market has none of its own) but opens them at 00:00 UTC, so the open
# instants of FX sessions are written here.
FX_ROLL = ("America/New_York", pd.Timedelta(hours=17))
# The +4 h rule: FX and futures daily bars stamped 20:00-23:59 UTC open the next day's session.
NEXT_DAY_SHIFT = pd.Timedelta(hours=4)


@lru_cache(maxsize=32)
def _calendar(name: str) -> xcals.ExchangeCalendar:
    # exchange_calendars costs a quarter of a second to import: only when a calendar is built.
    import exchange_calendars as xcals

    try:
        return xcals.get_calendar(name, start=CALENDAR_BOUNDS[0], end=CALENDAR_BOUNDS[1])
    except xcals.errors.InvalidCalendarName as err:
        raise ConfigError(f"calendar {name!r}: unknown calendar name") from err


def sessions(
    calendar: str, start: date | pd.Timestamp, end: date | pd.Timestamp
) -> pd.DatetimeIndex:
    """Expected session dates of ``calendar`` in ``[start, end]`` (naive midnight timestamps).

    ``24/7`` is every calendar day (crypto); other names are exchange_calendars codes
    (``XNYS`` with its holidays, ``24/5`` for FX).
    """
    lo, hi = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if hi < lo:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    if calendar == ALL_DAYS:
        return pd.date_range(lo, hi, freq="D").as_unit("ns")
    if lo < CALENDAR_BOUNDS[0] or hi > CALENDAR_BOUNDS[1]:
        raise ConfigError(
            f"calendar {calendar}: range {lo.date()}..{hi.date()} is outside "
            f"{CALENDAR_BOUNDS[0].date()}..{CALENDAR_BOUNDS[1].date()}"
        )
    exchange = _calendar(calendar)
    # The bounds may fall on a holiday (2015-01-01); sessions_in_range wants session bounds.
    first, last = (
        pd.Timestamp(t).tz_localize(None) for t in (exchange.first_session, exchange.last_session)
    )
    lo, hi = max(lo, first), min(hi, last)
    if hi < lo:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    found = exchange.sessions_in_range(lo, hi)
    return pd.DatetimeIndex(found.tz_localize(None) if found.tz else found).as_unit("ns")


def session_opens(calendar: str, days: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The UTC instant each session of ``days`` opens, as TradingView stamps its daily bar.

    ``24/7`` (crypto): midnight UTC of the day. ``24/5`` (FX): 17:00 New York the calendar day
    before (Sunday 17:00 opens Monday; 21:00 or 22:00 UTC with daylight saving). Other names
    are exchange_calendars codes and use its session opens: ``XNYS`` 09:30 New York the same day
    (13:30 or 14:30 UTC), ``CMES`` (CME Globex) 17:00 Chicago the day before (22:00 or 23:00
    UTC). The dates of FX and futures bars so stamped are what the +4 h rule of `market_date`
    undoes.

    Parameters
    ----------
    calendar : str
        ``24/7``, ``24/5`` or an exchange_calendars code.
    days : DatetimeIndex
        Session dates of ``calendar`` (naive midnight).

    Returns
    -------
    DatetimeIndex
        tz-aware UTC instants, one per day, in order.

    Raises
    ------
    ConfigError
        A day is not a session of ``calendar``, or the calendar name is unknown.
    """
    days = pd.DatetimeIndex(days).as_unit("ns")
    if calendar == ALL_DAYS:
        return days.tz_localize("UTC")
    if calendar == WEEKDAYS:
        if (days.day_of_week >= 5).any():
            raise ConfigError(f"calendar {calendar}: {days[days.day_of_week >= 5][0].date()} "
                              "is a weekend, not a session")  # fmt: skip
        zone, roll = FX_ROLL
        local = (days - pd.Timedelta(days=1) + roll).tz_localize(zone)
        return local.tz_convert("UTC")
    opens = _calendar(calendar).opens
    found = pd.DatetimeIndex(opens.reindex(days.tz_localize(opens.index.tz)))
    if found.isna().any():
        missing = days[found.isna()][0].date()
        raise ConfigError(f"calendar {calendar}: {missing} is not a session")
    return found.tz_convert("UTC") if found.tz else found.tz_localize("UTC")


def shared_sessions(
    calendars: list[str], start: date | pd.Timestamp, end: date | pd.Timestamp
) -> pd.DatetimeIndex:
    """Dates on which every calendar in ``calendars`` has a session (their intersection)."""
    if not calendars:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    common = sessions(calendars[0], start, end)
    for name in sorted(set(calendars[1:])):
        common = common.intersection(sessions(name, start, end))
    return common


def sessions_before(calendars: list[str], day: date | pd.Timestamp) -> int:
    """Shared sessions of ``calendars`` from the calendars' first bound up to, not including, day.

    A session's number on a grid fixed for all time: a cadence counted on it (rebalance every
    20 sessions) falls on the same dates whatever window a computation starts from.
    """
    last = pd.Timestamp(day).normalize() - pd.Timedelta(days=1)
    return len(shared_sessions(sorted(set(calendars)), CALENDAR_BOUNDS[0], last))


def calendar_for(asset_class: str) -> str:
    """The default calendar of an asset class (a template may name another)."""
    return {"crypto": ALL_DAYS, "forex": WEEKDAYS, "futures": "CMES"}.get(asset_class, "XNYS")


def market_date(stamps: pd.Series, asset_class: str) -> pd.Series:
    """Market date of bars stamped at their open, in UTC.

    Crypto keeps the UTC date; FX and futures bars stamped 20:00-23:59 UTC belong to the next day
    (+4 h, then the date); equities and ETFs are stamped at their session open (14:30 UTC for a
    NYSE session), whose UTC date is the session date.

    Parameters
    ----------
    stamps : Series
        Bar-open instants, tz-aware UTC or naive UTC.
    asset_class : str
        ``crypto``, ``forex``, ``futures``, ``equity`` or ``etf``.

    Returns
    -------
    Series
        Naive midnight timestamps, same index.
    """
    utc = pd.to_datetime(stamps, utc=True)
    if asset_class in ("forex", "futures"):
        utc = utc + NEXT_DAY_SHIFT
    return utc.dt.tz_localize(None).dt.normalize()
