"""Performance metrics of a walk-forward ledger: returns, risk ratios, drawdown, tail, turnover."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tvs_pipeline.errors import ConfigError, DataError

__all__ = ["CVAR_LEVEL", "SUMMARY_KEYS", "drawdown", "performance_summary"]

CVAR_LEVEL = 0.95
# A daily standard deviation (or drawdown) below this is treated as zero: ratios become NaN.
ZERO_FLOOR = 1e-12
SUMMARY_KEYS: tuple[str, ...] = (
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "cvar_95",
    "turnover_annual",
    "avg_exposure",
    "n_days",
)


def drawdown(equity: pd.Series) -> pd.Series:
    """Fall of equity from its running peak.

    ``DD_t = E_t / max_{s≤t} E_s − 1`` (0 at a new peak, −0.25 after a 25 % fall).

    Parameters
    ----------
    equity : pandas.Series
        Any index (typically market dates); positive equity values in time order.

    Returns
    -------
    pandas.Series
        Same index, name ``drawdown``, values in ``[-1, 0]`` for positive equity.

    Raises
    ------
    DataError
        If a value is not finite.

    References
    ----------
    Magdon-Ismail, M. and Atiya, A. (2004), "Maximum drawdown", Risk 17(10), 99-102.
    """
    values = equity.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise DataError("drawdown: equity holds a non-finite value, expected finite numbers")
    peak = np.maximum.accumulate(values) if len(values) else values
    return pd.Series(values / peak - 1.0, index=equity.index.copy(), name="drawdown")


def performance_summary(ledger: pd.DataFrame, periods_per_year: int) -> dict[str, float | int]:
    """Summarise a ledger's net returns, risk, drawdown, tail loss, turnover and exposure.

    With ``r_t`` the daily net returns, ``n`` days and ``P = periods_per_year``:

    - ``total_return = Π(1 + r_t) − 1``
    - ``annual_return = (1 + total_return)^(P/n) − 1`` (geometric; −1 if the book is wiped out)
    - ``annual_volatility = s·√P`` with ``s`` the sample standard deviation (ddof 1)
    - ``sharpe = r̄·P / annual_volatility`` (risk-free rate 0, arithmetic mean)
    - ``sortino = r̄·P / (d·√P)`` with downside deviation ``d = √(mean(min(r_t, 0)²))``
      over all days (target return 0)
    - ``max_drawdown = min_t DD_t`` on the equity path ``1, Π_{s≤t}(1 + r_s)`` (≤ 0; the
      starting 1.0 counts, so a first-day loss is a drawdown)
    - ``calmar = annual_return / |max_drawdown|``
    - ``cvar_95`` = mean of the ``⌈0.05·n⌉`` worst daily net returns (negative for losses)
    - ``turnover_annual = mean(turnover)·P`` (one-way, the initial build-up included)
    - ``avg_exposure = mean(exposure)``

    Ratios whose denominator is zero (below 1e-12) are NaN, never ±inf; so is
    ``annual_volatility`` with fewer than two days. Equity is rebuilt from ``net_return``,
    not read from the ledger.

    Parameters
    ----------
    ledger : pandas.DataFrame
        Any index, rows in time order; columns ``net_return``, ``turnover`` and ``exposure``
        (as :func:`tvs_pipeline.simulation.walk_forward.walk_forward` writes them).
    periods_per_year : int
        Trading days per year of the book's calendar (252 for equities, 365 for crypto).

    Returns
    -------
    dict
        The keys of :data:`SUMMARY_KEYS`; floats, ``n_days`` an int.

    Raises
    ------
    ConfigError
        If ``periods_per_year`` is not a positive integer.
    DataError
        If the ledger is empty, lacks a column, or holds a non-finite value.

    References
    ----------
    Sharpe, W. F. (1994), "The Sharpe ratio", Journal of Portfolio Management 21(1), 49-58.
    Sortino, F. and Price, L. (1994), "Performance measurement in a downside risk
    framework", Journal of Investing 3(3), 59-64.
    Young, T. W. (1991), "Calmar ratio: a smoother tool", Futures 20(1), 40.
    Rockafellar, R. T. and Uryasev, S. (2002), "Conditional value-at-risk for general loss
    distributions", Journal of Banking & Finance 26(7), 1443-1471.
    """
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, int | np.integer):
        raise ConfigError(
            f"performance_summary periods_per_year {periods_per_year!r}: expected an integer >= 1"
        )
    if periods_per_year < 1:
        raise ConfigError(
            f"performance_summary periods_per_year {periods_per_year!r}: expected an integer >= 1"
        )
    missing = [c for c in ("net_return", "turnover", "exposure") if c not in ledger.columns]
    if missing:
        raise DataError(f"performance_summary: ledger lacks columns {missing}")
    if ledger.empty:
        raise DataError("performance_summary: ledger has no rows, expected at least one day")
    frame = ledger.loc[:, ["net_return", "turnover", "exposure"]].to_numpy(dtype=float)
    if not np.isfinite(frame).all():
        raise DataError("performance_summary: ledger holds a non-finite value")
    r, turnover, exposure = frame[:, 0], frame[:, 1], frame[:, 2]
    n, p = len(r), int(periods_per_year)

    equity = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    total = float(equity[-1] - 1.0)
    annual = float(equity[-1] ** (p / n) - 1.0) if equity[-1] > 0.0 else -1.0
    mean_annual = float(r.mean()) * p
    daily_std = float(r.std(ddof=1)) if n >= 2 else math.nan
    volatility = daily_std * math.sqrt(p)
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) * math.sqrt(p)
    max_dd = float(drawdown(pd.Series(equity)).min())
    # Rounding first keeps 0.05 * 20 at one day, not two (0.05 is not exact in binary).
    worst = np.sort(r)[: max(1, math.ceil(round((1.0 - CVAR_LEVEL) * n, 9)))]

    return {
        "total_return": total,
        "annual_return": annual,
        "annual_volatility": volatility,
        "sharpe": _ratio(mean_annual, volatility),
        "sortino": _ratio(mean_annual, downside),
        "calmar": _ratio(annual, abs(max_dd)),
        "max_drawdown": max_dd,
        "cvar_95": float(worst.mean()),
        "turnover_annual": float(turnover.mean()) * p,
        "avg_exposure": float(exposure.mean()),
        "n_days": n,
    }


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is NaN or below ZERO_FLOOR."""
    if math.isnan(denominator) or denominator < ZERO_FLOOR:
        return math.nan
    return numerator / denominator
