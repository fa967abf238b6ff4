"""The track record re-derived by cvxportfolio's back-tester, a cross-check of `simulate`.

`simulate_cvxportfolio` hands the stored decisions, the returns and the one friction model to
cvxportfolio's ``MarketSimulator`` and reads the ledger back from its ``BacktestResult``:

* market: ``UserProvidedMarketData`` with the listings' returns (a missing return is 0, as in
  `hold_session`), a zero-return cash column, ``min_history`` 0 (every listing tradable from
  the first day), no volumes and no prices (so no rounding, no liquidity cap, no trade filter);
* policy: ``FixedWeights`` whose frame holds the decisions only on the periods that trade to
  them; on any other period it finds no row and holds, so the book drifts;
* costs: ``TransactionCost(a=friction.rate, b=None)`` (linear, no market impact, so it needs no
  volumes) and ``HoldingCost(short_fees=...)`` for the borrow.

cvxportfolio debits both costs from cash at the start of a period, against the pre-trade value
``v``, and the post-trade weights are the policy's weights of ``v``; that is the vectorized
ledger's own convention (a trade costs ``rate·Σ|w − h|`` of the pre-trade equity, and the
book earns ``Σ w·r``), so the trading cost matches by configuration alone. cvxportfolio's borrow
is ``(1 + s/100)^(1/ppy) − 1`` per period, with ``ppy = 365.24 days / period`` (compounded,
365.24-day year); ours is ``bps/10⁴ · days/365`` (simple, 365-day year, and 1 day on the
first row). The fee handed to it is therefore the annual percent that converts back to our
accrual, period by period, and the borrow matches too.

Agreement: on the same inputs the daily ``net`` of the two simulators differs by at most
`AGREEMENT_TOLERANCE` (float rounding: the largest difference measured over 200 random books
of 250 days, long-only and long/short with borrow, was 1.0e-15; the constant keeps a margin),
and the final equity by at most ``len(ledger) · AGREEMENT_TOLERANCE`` relative. This holds
while no short is stopped and equity stays positive:

* the vectorized ledger closes a short whose price doubles since entry (`SHORT_STOP`, its
  loss capped at its capital) and holds none of it until the next decision trades it again;
  cvxportfolio has no stop and keeps the short. From a stop to the next decision the two
  ledgers differ (its row's ``gross``, the later drift, and the next trade's turnover). The
  ledger does not flag a stop; a short that never doubles since entry is never stopped.
* cvxportfolio ends a back-test whose value reaches zero; the rows after are NaN here (only
  ``session`` and ``rebalanced`` are filled), where the vectorized ledger goes on.
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.simulation.friction import BPS_PER_UNIT, FrictionModel
from tvs_pipeline.simulation.simulator import (
    DAYS_PER_YEAR,
    LEDGER_COLUMNS,
    TRADE_EPS,
    _check_inputs,
)

__all__ = ["AGREEMENT_TOLERANCE", "simulate_cvxportfolio"]

# Largest |Δ net| on a day between `simulate` and `simulate_cvxportfolio` (no stop, no
# bankruptcy); measured 1.0e-15 over 200 random books (see the module docstring).
AGREEMENT_TOLERANCE = 1e-13
# cvxportfolio's year when it turns an annual holding fee into a period's (HoldingCost).
CVX_YEAR = pd.Timedelta("365.24D")
CASH_KEY = "_cash"
# cvxportfolio 1.5 builds Timedelta("...d") inside every period (deprecated in pandas 3).
_CVX_NOISE = r".*'d' is deprecated"


def simulate_cvxportfolio(
    weights: pd.DataFrame,
    returns: pd.DataFrame,
    friction: FrictionModel,
    borrow_bps_per_year: float | pd.Series = 0.0,
) -> pd.DataFrame:
    """The vectorized ledger of `simulate`, computed by cvxportfolio's ``MarketSimulator``.

    Same contract as `tvs_pipeline.simulation.simulator.simulate`: a row of ``weights`` dated
    ``t`` is traded at the close of ``t`` and first earns the next row of ``returns``; between
    decisions the book drifts; trades pay ``friction.rate`` per unit of one-way turnover and
    shorts pay ``borrow_bps_per_year`` per calendar day. cvxportfolio has no short stop (see
    the module docstring for what that and a bankruptcy change).

    Parameters
    ----------
    weights : DataFrame
        Index: decision dates (naive, sorted, unique); columns: listings; signed weights as
        fractions of equity (NaN is 0). Cash is ``1 − Σ w``.
    returns : DataFrame
        Index: dates (naive, sorted, unique); columns: listings (those of ``weights`` at
        least); daily simple returns, NaN where a listing has no session.
    friction : FrictionModel
        The linear trading cost.
    borrow_bps_per_year : float or Series
        Annual borrow rate on shorts, in bps (per listing when a Series; absent listings and
        NaN pay 0).

    Returns
    -------
    DataFrame
        Indexed by the rows of ``returns`` after the first decision; columns
        ``LEDGER_COLUMNS`` as in `simulate`: ``gross`` (``net`` plus the costs), the costs
        cvxportfolio debited (as fractions of the day's opening equity), ``net`` (its value's
        return), ``turnover`` (``Σ|u|/v``, one-way), ``equity`` (its value, from 1.0), the
        exposures of its post-trade book, ``session`` and ``rebalanced``.

    Raises
    ------
    ConfigError
        cvxportfolio is not installed (the extra that installs it named), or a borrow rate is
        negative or not finite.
    DataError
        Malformed frames, a listing of ``weights`` missing from ``returns``, or no return
        row after the first decision (the same checks and messages as `simulate`).
    """
    _check_inputs(weights, returns)
    decisions = weights.fillna(0.0).astype("float64")
    listings = decisions.columns
    borrow = _borrow_rates(borrow_bps_per_year, listings)
    rows = returns.index[returns.index > decisions.index[0]]
    if not len(rows):
        raise DataError(
            f"simulate: no return row after the first decision {decisions.index[0].date()}"
        )
    cash = _cash_key(listings)

    # Timing. cvxportfolio's period t runs from its time t to the next one: the policy trades
    # at t and the book earns r_t = p(t+1)/p(t) − 1. Our row R earns close(previous row) →
    # close(R) and a decision dated D trades at the close of D, i.e. at the close of the last
    # row at or before D. So R's period is labelled by the previous row (its start): the
    # trade at cvxportfolio's t is ours at that close, and the period lasts the calendar days
    # our borrow accrues for. The first row starts one day before it; the last row's end
    # closes the calendar, whose last row cvxportfolio never earns.
    starts = pd.DatetimeIndex([rows[0] - pd.Timedelta(days=1)]).append(rows[:-1])
    calendar = starts.append(rows[-1:])
    # The decision each row trades to: the last one dated before it, when it is new.
    position = np.searchsorted(decisions.index.to_numpy(), rows.to_numpy(), side="left") - 1
    rebalanced = np.r_[True, position[1:] > position[:-1]]

    earned = returns.loc[rows, listings].fillna(0.0).to_numpy(dtype="float64")
    market = pd.DataFrame(
        np.vstack([earned, np.zeros((1, len(listings)))]), index=calendar, columns=listings
    ).assign(**{cash: 0.0})
    targets = pd.DataFrame(
        decisions.iloc[position[rebalanced]].to_numpy(), index=starts[rebalanced], columns=listings
    )
    targets[cash] = 1.0 - targets.sum(axis=1)
    traded_rows = returns.loc[rows, listings].notna().to_numpy().any(axis=1)
    fees = _short_fees(
        borrow, listings, rows, calendar, _first_trade(returns, decisions), traded_rows
    )

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_CVX_NOISE, module="cvxportfolio")
        cvx = _import_cvxportfolio()
        simulator = cvx.MarketSimulator(
            market_data=cvx.UserProvidedMarketData(
                returns=market, cash_key=cash, min_history=pd.Timedelta(0)
            ),
            costs=[cvx.TransactionCost(a=friction.rate, b=None), cvx.HoldingCost(short_fees=fees)],
        )
        result = simulator.backtest(_fixed_weights(cvx, targets), initial_value=1.0)
    return _ledger(result, returns.loc[rows], [*listings, cash], calendar, rebalanced)


def _fixed_weights(cvx: ModuleType, targets: pd.DataFrame) -> object:
    """The ``FixedWeights`` policy of cvxportfolio over ``targets``, asked only on its rows.

    ``FixedWeights`` holds (returns the current weights) on a period without a target by
    catching the exception its data raises, and cvxportfolio annotates that exception with the
    policy's repr, which hashes the whole target frame: on a book rebalanced every 20 sessions
    that was ~15 % of a back-test's time. Skipping those periods is the same decision.
    """

    class Rebalances(cvx.FixedWeights):
        def __init__(self, target_weights: pd.DataFrame) -> None:
            super().__init__(target_weights)
            self._dates = frozenset(target_weights.index)

        def values_in_time_recursive(self, t, current_weights, **kwargs):
            if t not in self._dates:
                self._current_value = current_weights
                return current_weights
            return super().values_in_time_recursive(t=t, current_weights=current_weights, **kwargs)

    return Rebalances(targets)


def _import_cvxportfolio() -> ModuleType:
    try:
        import cvxportfolio
    except ImportError as err:
        raise ConfigError(
            f"simulator 'cvxportfolio': its library is not installed ({err.name}); "
            "pip install 'tvs_pipeline[cvxportfolio]'"
        ) from err
    return cvxportfolio


def _borrow_rates(borrow_bps_per_year: float | pd.Series, listings: pd.Index) -> np.ndarray:
    """Listing -> annual borrow rate in bps, as `hold_session` reads it (absent or NaN: 0)."""
    if isinstance(borrow_bps_per_year, pd.Series):
        rates = pd.to_numeric(borrow_bps_per_year, errors="coerce").reindex(listings)
        rates = rates.fillna(0.0).to_numpy(dtype="float64")
    else:
        rates = np.full(len(listings), float(borrow_bps_per_year))
    bad = ~np.isfinite(rates) | (rates < 0)
    if bad.any():
        raise ConfigError(
            f"simulate: borrow_bps_per_year {rates[bad][0]!r}: expected a finite value >= 0"
        )
    return rates


def _cash_key(listings: pd.Index) -> str:
    """A name for cvxportfolio's cash account that no listing has."""
    key = CASH_KEY
    while key in listings:
        key = f"_{key}"
    return key


def _first_trade(returns: pd.DataFrame, decisions: pd.DataFrame) -> pd.Timestamp:
    """The close the first decision trades at: the last return row at or before it."""
    before = returns.index[returns.index <= decisions.index[0]]
    return before[-1] if len(before) else decisions.index[0]


def _short_fees(
    rates: np.ndarray,
    listings: pd.Index,
    rows: pd.DatetimeIndex,
    calendar: pd.DatetimeIndex,
    first_trade: pd.Timestamp,
    traded_rows: np.ndarray,
) -> pd.DataFrame:
    """Short fees for cvxportfolio (annual percent, period x listing) equal to our accrual.

    Ours on row k: ``x = bps/10⁴ · days_k/365``, ``days_k`` the whole calendar days since the
    last session (the first trade's close before the first session), and 0 on a row that is
    no session (`hold_session`). A session here is a row on which a weighted listing trades:
    the vectorized ledger asks whether a *held* listing trades, which differs only for a book
    holding a subset of the listings whose calendars disagree. cvxportfolio charges
    ``exp(log(1 + s/100)/ppy) − 1`` with ``ppy = 365.24 days / (t_next − t)``, so
    ``s = 100·((1 + x)^ppy − 1)``.
    """
    days = np.zeros(len(rows))
    last = first_trade
    for k, (row, traded) in enumerate(zip(rows, traded_rows, strict=True)):
        if traded:
            days[k], last = float((row - last).days), row
    accrued = np.outer(days / DAYS_PER_YEAR, rates / BPS_PER_UNIT)
    periods_per_year = (CVX_YEAR / (calendar[1:] - calendar[:-1])).to_numpy(dtype="float64")
    annual = 100.0 * np.expm1(np.log1p(accrued) * periods_per_year[:, None])
    return pd.DataFrame(annual, index=calendar[:-1], columns=listings)


def _ledger(
    result: Any,
    earned: pd.DataFrame,
    accounts: list,
    calendar: pd.DatetimeIndex,
    rebalanced: np.ndarray,
) -> pd.DataFrame:
    """`LEDGER_COLUMNS` from a ``BacktestResult`` (rows after a bankruptcy are NaN).

    ``accounts`` are the listings, then cash (the last column of every array below).
    """
    starts, listings = calendar[:-1], accounts[:-1]
    # Holdings in units of the initial equity at each calendar time (its end included).
    h = result.h.reindex(index=calendar, columns=accounts).to_numpy(dtype="float64")
    u = result.u.reindex(index=starts, columns=accounts).to_numpy(dtype="float64")
    value = h.sum(axis=1)
    opening, closing = value[:-1], value[1:]
    w_plus = (h[:-1, :-1] + u[:, :-1]) / opening[:, None]
    costs = {
        name: series.reindex(starts).to_numpy(dtype="float64")
        for name, series in result.costs.items()
    }
    trading_cost = costs["TransactionCost"] / opening
    borrow = costs["HoldingCost"] / opening
    net = closing / opening - 1.0
    long = np.where(w_plus > 0, w_plus, 0.0).sum(axis=1)
    short = -np.where(w_plus < 0, w_plus, 0.0).sum(axis=1)
    invalid = ~np.isfinite(net)
    long[invalid], short[invalid] = np.nan, np.nan
    held = np.abs(np.nan_to_num(w_plus)) > TRADE_EPS
    traded = earned[listings].notna().to_numpy()
    session = np.where(
        held.any(axis=1), (held & traded).any(axis=1), earned.notna().to_numpy().any(axis=1)
    )
    turnover = np.abs(u[:, :-1]).sum(axis=1) / opening
    session = session | (np.nan_to_num(turnover) > 0.0)  # a trade costs on any day
    ledger = pd.DataFrame(
        {
            "gross": net + trading_cost + borrow,
            "trading_cost": trading_cost,
            "borrow": borrow,
            "cost": trading_cost + borrow,
            "net": net,
            "turnover": turnover,
            "equity": closing / value[0],
            "long_exposure": long,
            "short_exposure": short,
            "gross_exposure": long + short,
            "net_exposure": long - short,
            "session": session.astype(bool),
            "rebalanced": rebalanced.astype(bool),
        },
        index=earned.index,
    )
    return ledger.loc[:, list(LEDGER_COLUMNS)]
