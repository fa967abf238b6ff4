"""The performance report of a day: the track record's metrics to date, and where its page is."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from tvs_pipeline.market.point_in_time import SURVIVORSHIP
from tvs_pipeline.simulation.metrics import ledger_metrics

__all__ = [
    "POINT_IN_TIME_DAYS",
    "REPORT_COLUMNS",
    "report_day",
    "report_directory",
    "survivorship_caveat",
    "survivorship_days",
]

REPORT_COLUMNS = ("metric", "value")
# The metric a report carries when days of its span were discovered point in time.
POINT_IN_TIME_DAYS = "point_in_time_days"


def report_day(
    history: pd.DataFrame, as_of: date, discovered: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The out-of-sample track record's metrics over every session up to ``as_of``.

    Parameters
    ----------
    history : DataFrame
        The role's ``simulation`` rows (``date`` and the ledger columns) of any span; rows
        dated after ``as_of`` are not used.
    as_of : date
        Day D.
    discovered : DataFrame, optional
        One row per ``discovery`` partition: ``date`` and ``point_in_time`` (true when the
        day's universe was rebuilt from today's listings; missing in partitions written before
        the column existed).

    Returns
    -------
    DataFrame
        ``metric`` (str), ``value`` (float): `ledger_metrics` of the rows up to D, plus
        ``sessions`` and ``equity``, and ``point_in_time_days`` when days of the report's span
        (its first ledger row to D) were discovered point in time (`survivorship_days`: the
        report then carries the survivorship caveat); no rows before the first session.
    """
    upto = history.loc[history["date"] <= pd.Timestamp(as_of)]
    if upto.empty or not upto["session"].astype(bool).any():
        return pd.DataFrame({"metric": pd.Series(dtype="str"), "value": pd.Series(dtype="float64")})
    numbers = {
        **ledger_metrics(upto),
        "sessions": float(upto["session"].astype(bool).sum()),
        "equity": float(upto["equity"].iloc[-1]),
    }
    if discovered is not None:
        first = pd.Timestamp(upto["date"].min()).date()
        rebuilt = survivorship_days(discovered, first, as_of)
        if rebuilt:
            numbers[POINT_IN_TIME_DAYS] = float(len(rebuilt))
    return pd.DataFrame({"metric": list(numbers), "value": [float(v) for v in numbers.values()]})


def survivorship_days(discovered: pd.DataFrame, first: date, last: date) -> list[date]:
    """The days in ``[first, last]`` whose universe was discovered point in time.

    Parameters
    ----------
    discovered : DataFrame
        ``date`` and ``point_in_time`` (bool; null reads false: a partition written before the
        column, always by a live scan or the demo market), one or more rows per day.
    first, last : date
        The report's span.

    Returns
    -------
    list of date
        Sorted, without repeats.
    """
    dates = pd.to_datetime(discovered["date"])
    inside = dates.between(pd.Timestamp(first), pd.Timestamp(last))
    flagged = discovered["point_in_time"].astype("boolean").fillna(False).astype(bool)
    return sorted({ts.date() for ts in dates[inside & flagged]})


def survivorship_caveat(days: list[date]) -> str:
    """One line saying which days' universes were rebuilt and what that leaves out ("" if none).

    ``3 days from 2026-05-01 to 2026-05-03 discovered point in time: universe rebuilt ...``
    """
    if not days:
        return ""
    span = f"on {days[0]}" if len(days) == 1 else f"from {days[0]} to {days[-1]}"
    count = "1 day" if len(days) == 1 else f"{len(days)} days"
    return f"{count} {span} discovered point in time: {SURVIVORSHIP}"


def report_directory(root: str | Path, role: str, first: date, last: date) -> Path:
    """A role's tear-sheet folder for ``[first, last]``: ``<root>/<role>/<first>_<last>``."""
    return Path(root) / role / f"{first.isoformat()}_{last.isoformat()}"
