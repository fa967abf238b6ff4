"""The evidence for a cutover: both roles' out-of-sample track records over the last days."""

from __future__ import annotations

from datetime import date

import pandas as pd

from tvs_pipeline.errors import DataError
from tvs_pipeline.simulation.metrics import metrics, sessions_per_year

__all__ = ["PROMOTION_COLUMNS", "PROMOTION_WINDOW", "promotion_day", "promotion_summary"]

PROMOTION_WINDOW = 20  # days of evidence for a cutover

PROMOTION_COLUMNS = (
    "role",
    "engine",
    "sessions",
    "mean_jaccard",
    "total_return",
    "sharpe",
    "mean_turnover",
    "cost_bps",
)
LEDGER_NEEDS = ("date", "net", "turnover", "cost", "session")


def promotion_summary(
    parity: pd.DataFrame,
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    engines: dict[str, str],
) -> pd.DataFrame:
    """One row per role over the window: overlap with the other role, return, Sharpe, turnover.

    Parameters
    ----------
    parity : DataFrame
        ``selection_parity`` rows of the window (``jaccard`` per day).
    champion, challenger : DataFrame
        Each role's track-record rows of the window (``simulation``, one per day: ``date``,
        ``net``, ``turnover``, ``cost``, ``session``). Only sessions count.
    engines : dict
        Engine per role, for the report.

    Returns
    -------
    DataFrame
        ``PROMOTION_COLUMNS``: ``total_return`` compounds the sessions' net returns,
        ``sharpe`` is `metrics`' (annualised by the sessions actually held,
        `sessions_per_year`), ``mean_turnover`` and ``cost_bps`` are per session.
    """
    rows = []
    jaccard = float(parity["jaccard"].mean()) if len(parity) else float("nan")
    for role, ledger in (("champion", champion), ("challenger", challenger)):
        missing = [c for c in LEDGER_NEEDS if c not in ledger.columns]
        if missing:
            raise DataError(f"promotion: the {role} track record lacks {missing}")
        sessions = ledger.loc[ledger["session"].astype(bool)]
        numbers = {"total_return": float("nan"), "sharpe": float("nan")}
        if len(sessions):
            numbers = metrics(sessions["net"], sessions_per_year(sessions["date"]))
        rows.append(
            {
                "role": role,
                "engine": engines.get(role, ""),
                "sessions": len(sessions),
                "mean_jaccard": jaccard,
                "total_return": float(numbers["total_return"]),
                "sharpe": float(numbers["sharpe"]),
                "mean_turnover": float(sessions["turnover"].mean()) if len(sessions) else 0.0,
                "cost_bps": float(sessions["cost"].mean()) * 1e4 if len(sessions) else 0.0,
            }
        )
    return pd.DataFrame(rows, columns=list(PROMOTION_COLUMNS))


def promotion_day(
    parity: pd.DataFrame | None,
    champion: pd.DataFrame | None,
    challenger: pd.DataFrame | None,
    engines: dict[str, str],
    as_of: date,
    window: int = PROMOTION_WINDOW,
) -> pd.DataFrame:
    """The promotion summary of the ``window`` days ending ``as_of``.

    Parameters
    ----------
    parity : DataFrame or None
        ``selection_parity`` rows with their ``date`` (any span covering the window).
    champion, challenger : DataFrame or None
        Each role's ``simulation`` rows (the out-of-sample track record) over such a span.
    engines : dict
        Engine per role, for the report.
    as_of : date
        The window's last day; rows dated after it are not used.
    window : int
        Days of evidence, ``as_of`` included.

    Returns
    -------
    DataFrame
        `promotion_summary` of the rows dated in ``[as_of - window + 1, as_of]``.
    """
    start = pd.Timestamp(as_of) - pd.Timedelta(days=window - 1)
    empty = pd.DataFrame({name: [] for name in LEDGER_NEEDS})
    return promotion_summary(
        _window(parity, start, as_of) if parity is not None else pd.DataFrame({"jaccard": []}),
        _window(champion, start, as_of) if champion is not None else empty,
        _window(challenger, start, as_of) if challenger is not None else empty,
        engines,
    )


def _window(frame: pd.DataFrame, start: pd.Timestamp, day: date) -> pd.DataFrame:
    """Rows of the partitions dated in ``[start, day]``."""
    if frame.empty:
        return frame
    return frame.loc[frame["date"].between(start, pd.Timestamp(day))]
