"""The evidence for a cutover: the challenger against the champion over the last days."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.errors import DataError

__all__ = ["PROMOTION_COLUMNS", "last_day_returns", "promotion_summary", "sessions_per_year"]

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
