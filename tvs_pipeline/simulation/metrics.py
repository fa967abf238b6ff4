"""Performance metrics of a track record: returns, risk ratios, drawdown, tail, turnover."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tvs_pipeline.errors import ConfigError, DataError

__all__ = [
    "CVAR_LEVEL",
    "LEDGER_METRIC_KEYS",
    "METRIC_KEYS",
    "drawdown",
    "ledger_metrics",
    "metrics",
    "sessions_per_year",
]

CVAR_LEVEL = 0.95
# A daily standard deviation (or drawdown) below this is treated as zero: ratios become NaN.
ZERO_FLOOR = 1e-12
# Below this many sessions, or this calendar span, a sessions-per-year estimate is noise.
MIN_SESSIONS_FOR_RATE = 20
MIN_SPAN_DAYS_FOR_RATE = 28
DAYS_PER_YEAR = 365.25
METRIC_KEYS: tuple[str, ...] = (
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "cvar_95",
    "hit_rate",
    "n_periods",
)
LEDGER_METRIC_KEYS: tuple[str, ...] = (
    *METRIC_KEYS,
    "turnover_annual",
    "cost_drag",
    "avg_gross_exposure",
    "avg_net_exposure",
    "periods_per_year",
    "selection_alpha",
    "benchmark_annual_return",
)
LEDGER_NUMBER_COLUMNS = (
    "net",
    "cost",
    "turnover",
    "gross_exposure",
    "net_exposure",
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


def metrics(net_returns: pd.Series, periods_per_year: float) -> dict[str, float]:
    """Return, risk, drawdown and tail metrics of a series of per-period net returns.

    With ``r_t`` the net returns, ``n`` periods and ``P = periods_per_year``:

    - ``total_return = Π(1 + r_t) − 1``
    - ``annual_return = (1 + total_return)^(P/n) − 1`` (geometric; −1 if the book is wiped out)
    - ``annual_volatility = s·√P`` with ``s`` the sample standard deviation (ddof 1)
    - ``sharpe = r̄·P / annual_volatility`` (risk-free rate 0, arithmetic mean)
    - ``sortino = r̄·P / (d·√P)`` with the downside deviation against 0 over all periods,
      ``d = √(mean(min(r_t, 0)²))`` (not the semi-deviation around the mean)
    - ``max_drawdown = min_t DD_t`` on the equity path ``1, Π_{s≤t}(1 + r_s)`` (≤ 0; the
      starting 1.0 counts, so a first-period loss is a drawdown)
    - ``calmar = annual_return / |max_drawdown|``
    - ``cvar_95`` = mean of the ``⌈0.05·n⌉`` worst returns (negative for losses)
    - ``hit_rate`` = share of periods with ``r_t > 0`` among those with ``r_t ≠ 0``
    - ``n_periods = n``

    A ratio whose denominator is below 1e-12 is NaN, never ±inf; so is ``annual_volatility``
    (and with it ``sharpe``) with fewer than two periods, and ``hit_rate`` when every
    return is 0.

    Parameters
    ----------
    net_returns : pandas.Series
        Any index, values in time order: one net return per period (a session).
    periods_per_year : float
        Periods per year of the series (see :func:`sessions_per_year`).

    Returns
    -------
    dict
        The keys of :data:`METRIC_KEYS`; floats, ``n_periods`` an int.

    Raises
    ------
    ConfigError
        If ``periods_per_year`` is not a positive finite number.
    DataError
        If ``net_returns`` is empty or holds a non-finite value.

    References
    ----------
    Sharpe, W. F. (1994), "The Sharpe ratio", Journal of Portfolio Management 21(1), 49-58.
    Sortino, F. and Price, L. (1994), "Performance measurement in a downside risk
    framework", Journal of Investing 3(3), 59-64.
    Young, T. W. (1991), "Calmar ratio: a smoother tool", Futures 20(1), 40.
    Rockafellar, R. T. and Uryasev, S. (2002), "Conditional value-at-risk for general loss
    distributions", Journal of Banking & Finance 26(7), 1443-1471.
    """
    p = _check_periods(periods_per_year, "metrics")
    r = np.asarray(net_returns, dtype=float)
    if r.size == 0:
        raise DataError("metrics: net returns are empty, expected at least one period")
    if not np.isfinite(r).all():
        bad = int((~np.isfinite(r)).sum())
        raise DataError(f"metrics: net returns hold {bad} non-finite values, expected none")
    return _return_stats(r, p)


def sessions_per_year(dates: pd.DatetimeIndex | pd.Series) -> float:
    """Periods per year implied by the sessions a track record actually had.

    ``n_sessions / span_years`` with ``span_years = (last − first + 1 day) / 365.25 days``:
    a year of NYSE sessions gives about 252, a year of every day (crypto) about 365, a
    book trading both whatever its sessions are. A rate from few sessions is noise, so with
    fewer than 20 sessions or a span under 28 days the answer is a convention instead:
    365 when a date is a Saturday or Sunday (weekends trade), else 252. Duplicate dates
    count once. The span counts the calendar days between the first and the last session
    only, so a window that starts on a Monday and ends on a Friday (no weekend at its
    edges) reads a little high; over a year the bias is under 1 %.

    Parameters
    ----------
    dates : pandas.DatetimeIndex or pandas.Series
        The dates that were sessions (datetime64 or parseable); any order.

    Returns
    -------
    float
        Sessions per year, positive.

    Raises
    ------
    DataError
        If there is no date, or a date is missing (NaT).
    """
    days = pd.DatetimeIndex(pd.to_datetime(dates)).normalize()
    if days.size == 0:
        raise DataError("sessions_per_year: no session date, expected at least one")
    if days.hasnans:
        raise DataError("sessions_per_year: a session date is missing (NaT)")
    days = days.unique()
    span_days = (days.max() - days.min()).days + 1
    if len(days) < MIN_SESSIONS_FOR_RATE or span_days < MIN_SPAN_DAYS_FOR_RATE:
        return 365.0 if bool((days.day_of_week >= 5).any()) else 252.0
    return len(days) / (span_days / DAYS_PER_YEAR)


def ledger_metrics(ledger: pd.DataFrame) -> dict[str, float]:
    """Metrics of a track-record ledger over its sessions, beside cost, exposure and alpha.

    Only rows with ``session`` true count (a non-session row has net 0 and would dilute every
    mean). With ``P = sessions_per_year(dates of those rows)``, the result is
    :func:`metrics` of ``net`` and:

    - ``turnover_annual = mean(turnover)·P`` (one-way)
    - ``cost_drag = mean(cost)·P`` (annual fraction of equity lost to trading and borrow)
    - ``avg_gross_exposure``, ``avg_net_exposure``: means over the sessions
    - ``periods_per_year = P``
    - ``selection_alpha = mean(net − universe_return)·P`` over the sessions whose
      ``universe_return`` is finite (NaN when none): the book against the equal-weight
      raw universe
    - ``benchmark_annual_return = (Π(1 + u_t))^(P/m) − 1`` over those ``m`` sessions

    Parameters
    ----------
    ledger : pandas.DataFrame
        One row per partition day: ``date`` (datetime64), ``net``, ``cost``, ``turnover``,
        ``gross_exposure``, ``net_exposure``, ``universe_return`` (floats) and ``session``
        (bool); other columns are ignored. Rows are sorted by ``date`` here.

    Returns
    -------
    dict
        The keys of :data:`LEDGER_METRIC_KEYS`; floats, ``n_periods`` an int.

    Raises
    ------
    DataError
        If a column is missing, no row is a session, or a session's number is not finite.
    """
    needed = ("date", "session", "universe_return", *LEDGER_NUMBER_COLUMNS)
    missing = [c for c in needed if c not in ledger.columns]
    if missing:
        raise DataError(f"ledger_metrics: ledger lacks columns {missing}")
    is_session = ledger["session"].to_numpy(dtype=bool, na_value=False)
    sessions = ledger.loc[is_session].sort_values("date", kind="stable")
    if sessions.empty:
        raise DataError(
            f"ledger_metrics: none of {len(ledger)} ledger rows is a session, expected at least one"
        )
    numbers = sessions.loc[:, list(LEDGER_NUMBER_COLUMNS)].to_numpy(dtype=float)
    finite = np.isfinite(numbers).all(axis=0)
    if not finite.all():
        bad = [c for c, ok in zip(LEDGER_NUMBER_COLUMNS, finite, strict=True) if not ok]
        raise DataError(f"ledger_metrics: session rows hold non-finite values in {bad}")
    p = sessions_per_year(sessions["date"])
    net, cost, turnover, gross, net_exposure = numbers.T
    universe = sessions["universe_return"].to_numpy(dtype=float)
    known = np.isfinite(universe)
    if known.any():
        alpha = float(np.mean(net[known] - universe[known])) * p
        benchmark = _annual_return(float(np.prod(1.0 + universe[known])), p, int(known.sum()))
    else:
        alpha = benchmark = math.nan
    return {
        **metrics(pd.Series(net), p),
        "turnover_annual": float(turnover.mean()) * p,
        "cost_drag": float(cost.mean()) * p,
        "avg_gross_exposure": float(gross.mean()),
        "avg_net_exposure": float(net_exposure.mean()),
        "periods_per_year": float(p),
        "selection_alpha": alpha,
        "benchmark_annual_return": benchmark,
    }


def _check_periods(periods_per_year: float, caller: str) -> float:
    """``periods_per_year`` as a float, or a ConfigError unless it is a positive finite number."""
    ok = isinstance(periods_per_year, int | float | np.integer | np.floating) and not isinstance(
        periods_per_year, bool
    )
    if not ok or not math.isfinite(periods_per_year) or periods_per_year <= 0:
        raise ConfigError(
            f"{caller} periods_per_year {periods_per_year!r}: expected a positive finite number"
        )
    return float(periods_per_year)


def _annual_return(growth: float, p: float, n: int) -> float:
    """``growth^(P/n) − 1``, and −1 once the book is wiped out (growth ≤ 0)."""
    return float(growth ** (p / n) - 1.0) if growth > 0.0 else -1.0


def _return_stats(r: np.ndarray, p: float) -> dict[str, float]:
    """The :data:`METRIC_KEYS` of finite, non-empty returns ``r`` at ``p`` periods a year."""
    n = len(r)
    equity = np.concatenate(([1.0], np.cumprod(1.0 + r)))
    annual = _annual_return(float(equity[-1]), p, n)
    mean_annual = float(r.mean()) * p
    volatility = float(r.std(ddof=1)) * math.sqrt(p) if n >= 2 else math.nan
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) * math.sqrt(p)
    max_dd = float(drawdown(pd.Series(equity)).min())
    # Rounding first keeps 0.05 * 20 at one day, not two (0.05 is not exact in binary).
    worst = np.sort(r)[: max(1, math.ceil(round((1.0 - CVAR_LEVEL) * n, 9)))]
    moved = int(np.count_nonzero(r))
    return {
        "total_return": float(equity[-1] - 1.0),
        "annual_return": annual,
        "annual_volatility": volatility,
        "sharpe": _ratio(mean_annual, volatility),
        "sortino": _ratio(mean_annual, downside),
        "calmar": _ratio(annual, abs(max_dd)),
        "max_drawdown": max_dd,
        "cvar_95": float(worst.mean()),
        "hit_rate": float(np.count_nonzero(r > 0.0)) / moved if moved else math.nan,
        "n_periods": n,
    }


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is NaN or below ZERO_FLOOR."""
    if math.isnan(denominator) or denominator < ZERO_FLOOR:
        return math.nan
    return numerator / denominator
