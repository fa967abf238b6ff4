"""The evidence for a cutover: the challenger against the champion over the last days."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from tvs_pipeline.errors import DataError

__all__ = [
    "PROMOTION_COLUMNS",
    "PROMOTION_WINDOW",
    "last_day_returns",
    "promotion_day",
    "promotion_summary",
    "sessions_per_year",
]

PROMOTION_WINDOW = 20  # days of evidence for a cutover

PROMOTION_COLUMNS = (
    "role",
    "engine",
    "days",
    "mean_jaccard",
    "total_return",
    "sharpe",
    "mean_turnover",
)


def sessions_per_year(ledgers: pd.DataFrame | None) -> int:
    """365 when the ledgers trade on weekends (an all-crypto book), else 252."""
    if ledgers is None or ledgers.empty:
        return 252
    return 365 if (pd.to_datetime(ledgers["market_date"]).dt.day_of_week >= 5).any() else 252


def last_day_returns(ledgers: pd.DataFrame | None) -> pd.DataFrame:
    """Each partition's own day from its walk-forward ledger: the book held over that day.

    Parameters
    ----------
    ledgers : DataFrame
        Simulation partitions stacked: [date (partition), market_date, net_return, turnover, ...].

    Returns
    -------
    DataFrame
        One row per partition date: [date, net_return, turnover], the ledger row whose
        market date is the latest at or before the partition date.
    """
    if ledgers is None or ledgers.empty:
        return pd.DataFrame({"date": [], "net_return": [], "turnover": []})
    missing = [c for c in ("date", "market_date", "net_return", "turnover") if c not in ledgers]
    if missing:
        raise DataError(f"promotion: simulation ledgers lack {missing}")
    known = ledgers.loc[ledgers["market_date"] <= ledgers["date"]]
    last = known.sort_values(["date", "market_date"]).groupby("date", as_index=False).last()
    return last[["date", "net_return", "turnover"]]


def promotion_summary(
    parity: pd.DataFrame,
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    engines: dict[str, str],
    periods_per_year: int,
) -> pd.DataFrame:
    """One row per role over the window: overlap with the other role, return, Sharpe, turnover.

    Parameters
    ----------
    parity : DataFrame
        ``selection_parity`` rows of the window (``jaccard`` per day).
    champion, challenger : DataFrame
        ``last_day_returns`` of each role over the same window.
    engines : dict
        Engine per role, for the report.
    periods_per_year : int
        Annualisation of the Sharpe ratio (rf = 0): ``mean / std × √P``.

    Returns
    -------
    DataFrame
        ``PROMOTION_COLUMNS``; ``total_return`` compounds the daily net returns.
    """
    rows = []
    jaccard = float(parity["jaccard"].mean()) if len(parity) else float("nan")
    for role, daily in (("champion", champion), ("challenger", challenger)):
        returns = daily["net_return"].astype("float64")
        std = returns.std(ddof=1) if len(returns) > 1 else float("nan")
        sharpe = (
            float(returns.mean() / std * np.sqrt(periods_per_year))
            if std and np.isfinite(std) and std > 1e-12
            else float("nan")
        )
        rows.append(
            {
                "role": role,
                "engine": engines.get(role, ""),
                "days": len(daily),
                "mean_jaccard": jaccard,
                "total_return": float((1 + returns).prod() - 1) if len(returns) else float("nan"),
                "sharpe": sharpe,
                "mean_turnover": float(daily["turnover"].mean()) if len(daily) else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=list(PROMOTION_COLUMNS))


def promotion_day(
    parity: pd.DataFrame | None,
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    champion_ledgers: pd.DataFrame | None,
    engines: dict[str, str],
    as_of: date,
    window: int = PROMOTION_WINDOW,
) -> pd.DataFrame:
    """The promotion summary of the ``window`` days ending ``as_of``.

    Parameters
    ----------
    parity : DataFrame or None
        ``selection_parity`` rows with their ``date`` (any span covering the window; None
        when there is none yet).
    champion, challenger : DataFrame
        `last_day_returns` of each role's ``simulation`` partitions over such a span.
    champion_ledgers : DataFrame or None
        The champion's ``simulation`` partitions over the span, with ``date`` (they give the
        sessions per year).
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
    return promotion_summary(
        _window(parity, start, as_of) if parity is not None else pd.DataFrame({"jaccard": []}),
        _window(champion, start, as_of),
        _window(challenger, start, as_of),
        engines,
        periods_per_year=sessions_per_year(_window(champion_ledgers, start, as_of)),
    )


def _window(frame: pd.DataFrame | None, start: pd.Timestamp, day: date) -> pd.DataFrame | None:
    """Rows of the partitions dated in ``[start, day]``."""
    if frame is None or frame.empty:
        return frame
    return frame.loc[frame["date"].between(start, pd.Timestamp(day))]
