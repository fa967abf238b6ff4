"""The vectorized simulator: stored decisions traded next session, held, drifted and charged.

One session step (`hold_session`) is shared by the track record, the allocation's view of its
current holdings and `simulate`, so the book the optimiser sees and the book the ledger earns on
are the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.simulation.friction import BPS_PER_UNIT, FrictionModel

__all__ = [
    "LEDGER_COLUMNS",
    "SHORT_STOP",
    "SIMULATORS",
    "Holdings",
    "SessionResult",
    "exposures",
    "hold_session",
    "simulate",
    "trade_to",
]

# The track record's columns (one row per day), shared by `simulate`, the `simulation` asset
# and the tear sheet. `cost = trading_cost + borrow`, `net = gross − cost`.
LEDGER_COLUMNS: tuple[str, ...] = (
    "gross",
    "trading_cost",
    "borrow",
    "cost",
    "net",
    "turnover",
    "equity",
    "long_exposure",
    "short_exposure",
    "gross_exposure",
    "net_exposure",
    "session",
    "rebalanced",
)
SIMULATORS = ("vectorized", "cvxportfolio")
# A held short is closed when its price reaches twice its entry: its synthetic long (the
# inverted stream) has then lost all of its capital, and it cannot lose more (−100 %).
SHORT_STOP = 2.0
# Weights closer than this count as unchanged (no trade, the entry price is kept).
TRADE_EPS = 1e-12
DAYS_PER_YEAR = 365.0  # borrow and funding accrue per calendar day


@dataclass(frozen=True)
class Holdings:
    """A book as fractions of equity, signed (a short is negative), with its entry prices.

    Attributes
    ----------
    weights : Series
        Listing -> signed weight ``h`` (value / equity); cash is ``1 − Σ h``.
    since : Series
        Listing -> price relative since the position was last traded (1.0 at the trade): a
        short is stopped at ``SHORT_STOP``.
    """

    weights: pd.Series
    since: pd.Series

    @classmethod
    def flat(cls) -> Holdings:
        """No position."""
        return cls(pd.Series(dtype="float64"), pd.Series(dtype="float64"))

    @classmethod
    def of(cls, weights: pd.Series, since: pd.Series | None = None) -> Holdings:
        """Holdings of ``weights`` (zero weights dropped); ``since`` defaults to 1.0."""
        try:
            w = weights.to_numpy(dtype="float64", na_value=np.nan)
        except (TypeError, ValueError) as err:
            raise DataError("holdings: a weight is not a number") from err
        if not np.isfinite(w).all():
            raise DataError("holdings: a weight is not a finite number")
        kept = np.abs(w) > TRADE_EPS
        index = weights.index[kept]
        if since is None:
            s = np.ones(int(kept.sum()))
        else:
            s = since.reindex(index).to_numpy(dtype="float64", na_value=1.0)
            s = np.where(np.isnan(s), 1.0, s)
        return cls(
            pd.Series(w[kept], index=index, name="weight", dtype="float64"),
            pd.Series(s, index=index, name="since", dtype="float64"),
        )


@dataclass(frozen=True)
class SessionResult:
    """What one day did to a book: its return and the book at the close.

    Attributes
    ----------
    gross : float
        ``Σ h·r`` over the positions held, each short's loss stopped at its capital.
    borrow : float
        Borrow and funding paid on the shorts for the calendar days since the last day.
    session : bool
        Whether a held listing (or, holding nothing, any listing) traded that day.
    growth : Series
        Listing -> the factor a position's weight was multiplied by
        (``(1 + r) / (1 + net)``; 0 for a stopped short); what an atom on it is drifted by.
    after : Holdings
        The book at the close, as fractions of the close's equity.
    stopped : list of str
        Shorts closed by the −100 % stop that day.
    """

    gross: float
    borrow: float
    session: bool
    growth: pd.Series
    after: Holdings
    stopped: list[str]


def trade_to(held: Holdings, target: pd.Series) -> tuple[Holdings, float]:
    """Trade ``held`` to ``target``: the new book and its one-way turnover ``Σ |w − h|``.

    A position whose weight changes starts a new entry (``since`` 1.0); an untouched one keeps
    its entry, so a held short's stop still counts from where it was opened.
    """
    new = Holdings.of(target)
    index = held.weights.index.union(new.weights.index)
    w = new.weights.reindex(index, fill_value=0.0)
    h = held.weights.reindex(index, fill_value=0.0)
    turnover = float((w - h).abs().sum())
    kept = (w - h).abs() <= TRADE_EPS
    since = held.since.reindex(index).where(kept, 1.0).fillna(1.0)
    return Holdings.of(w, since), turnover


def hold_session(
    book: Holdings,
    returns: pd.Series,
    *,
    trading_cost: float = 0.0,
    borrow_bps_per_year: float | pd.Series = 0.0,
    days: float = 1.0,
) -> SessionResult:
    """Hold ``book`` over one day of ``returns`` and drift it to the close.

    Each position earns ``h·r`` (a listing without a return that day earns nothing and keeps
    its price). A short whose price relative since entry would reach ``SHORT_STOP`` loses
    exactly what is left of its capital, ``|h|·(SHORT_STOP − s)/s``, and is closed. The day's
    net is ``gross − trading_cost − borrow``, and equity moves by ``1 + net``, so every weight
    is re-expressed as its value over the new equity: ``h' = h(1 + r)/(1 + net)``. A book
    whose equity reaches zero holds nothing after.

    Parameters
    ----------
    book : Holdings
        The book held over the day (after the day's trade).
    returns : Series
        Listing -> the day's simple return (NaN or absent: no session for that listing).
    trading_cost : float
        The cost of the day's trade, as a fraction of equity (it reduces the equity the book
        drifts against).
    borrow_bps_per_year : float or Series
        Annual borrow or funding rate on a short, in bps of its value (per listing when a
        Series; absent listings pay 0), accrued per calendar day.
    days : float
        Calendar days the borrow accrues for: the gap since the book's previous session
        (charged only if the day is a session).

    Returns
    -------
    SessionResult
    """
    w = book.weights.to_numpy(dtype="float64")
    names = book.weights.index
    r = returns.reindex(names).to_numpy(dtype="float64")
    s = book.since.reindex(names).fillna(1.0).to_numpy(dtype="float64")
    rate = (
        borrow_bps_per_year.reindex(names).fillna(0.0).to_numpy(dtype="float64")
        if isinstance(borrow_bps_per_year, pd.Series)
        else np.full(len(w), float(borrow_bps_per_year))
    )
    step = _session_step(w, s, r, rate, trading_cost, days)
    session = step.session if len(w) else bool(returns.notna().any())
    after = Holdings.of(pd.Series(step.weights, index=names), pd.Series(step.since, index=names))
    return SessionResult(
        gross=step.gross,
        borrow=step.borrow if session else 0.0,
        session=session,
        growth=pd.Series(step.growth, index=names, dtype="float64"),
        after=after,
        stopped=[str(n) for n in names[step.stopped]],
    )


class _Step(NamedTuple):
    gross: float
    borrow: float
    session: bool
    growth: np.ndarray
    weights: np.ndarray
    since: np.ndarray
    stopped: np.ndarray


def _session_step(
    w: np.ndarray,
    s: np.ndarray,
    r_all: np.ndarray,
    rate: np.ndarray,
    trading_cost: float,
    days: float,
) -> _Step:
    """`hold_session`'s arithmetic on aligned arrays (weights, entry relatives, returns, rates).

    One implementation of the step for the track record, the allocation's drift and
    `simulate`'s loop.
    """
    traded = np.isfinite(r_all)
    r = np.where(traded, r_all, 0.0)
    short = w < 0
    stopped = short & (s * (1.0 + r) >= SHORT_STOP)
    pnl = np.where(stopped, w * (SHORT_STOP - s) / s, w * r)
    gross = float(pnl.sum())
    session = bool(traded.any())
    # Borrow accrues for the calendar days since the last session, paid on a session: a day on
    # which none of the book's listings trade earns nothing and pays nothing.
    borrow = float((np.abs(w) * short * rate).sum() / BPS_PER_UNIT * days / DAYS_PER_YEAR)
    borrow = borrow if session else 0.0
    equity = 1.0 + gross - trading_cost - borrow
    growth = np.zeros(len(w)) if equity <= 0.0 else np.where(stopped, 0.0, (1.0 + r) / equity)
    return _Step(gross, borrow, session, growth, w * growth, s * (1.0 + r), stopped)


def exposures(weights: pd.Series) -> dict[str, float]:
    """Long, short, gross and net exposure of signed weights (``short`` as a positive number)."""
    w = weights.to_numpy(dtype="float64")
    long, short = float(w[w > 0].sum()), float(-w[w < 0].sum())
    return {
        "long_exposure": long,
        "short_exposure": short,
        "gross_exposure": long + short,
        "net_exposure": long - short,
    }


def simulate(
    weights: pd.DataFrame,
    returns: pd.DataFrame,
    slippage_bps: float = 5.0,
    commission_bps: float = 1.0,
    *,
    borrow_bps_per_year: float | pd.Series = 0.0,
    friction: FrictionModel | None = None,
    simulator: str = "vectorized",
) -> pd.DataFrame:
    """Trade a series of decided books on the next day's returns, hold and drift between them.

    Timing: a row of ``weights`` dated ``t`` is decided at the close of ``t``; the book is
    traded to it at that close's prices, so it first earns on the next row of ``returns``
    after ``t``, and that row pays the trade's cost ``friction.cost(Σ|w − h|)`` against the
    drifted holdings ``h``. Between decisions no trade happens and weights drift
    (`hold_session`). A negative weight is a short held as a short: its exposure grows with
    the price, and its loss stops at its capital (`SHORT_STOP`); shorts pay
    ``borrow_bps_per_year`` per calendar day. Two decisions before the same return row: the
    later wins.

    Parameters
    ----------
    weights : DataFrame
        Index: decision dates (naive, sorted, unique); columns: listings; signed weights as
        fractions of equity (NaN is 0). Cash is ``1 − Σ w``.
    returns : DataFrame
        Index: dates (naive, sorted, unique); columns: listings (those of ``weights`` at
        least); daily simple returns, NaN where a listing has no session.
    slippage_bps, commission_bps : float
        The linear friction, when ``friction`` is not given.
    borrow_bps_per_year : float or Series
        Annual borrow or funding rate on shorts, in bps (per listing when a Series).
    friction : FrictionModel, optional
        Replaces the two rates above.
    simulator : str
        ``vectorized`` (this module) or ``cvxportfolio`` (its ``MarketSimulator`` with the same
        costs and timing, `tvs_pipeline.simulation.cvx`).

    Returns
    -------
    DataFrame
        Indexed by the rows of ``returns`` after the first decision; ``LEDGER_COLUMNS``:
        ``gross``, ``trading_cost``, ``borrow``, ``cost``, ``net``, ``turnover``, ``equity``
        (compounding ``1 + net`` from 1.0), the exposures of the book held over the day,
        ``session`` and ``rebalanced``.

    Raises
    ------
    ConfigError
        Unknown simulator, or negative rates.
    DataError
        Malformed frames, a listing of ``weights`` missing from ``returns``, or no return
        row after the first decision.
    """
    if simulator not in SIMULATORS:
        raise ConfigError(
            f"simulate: simulator {simulator!r} is unknown, expected one of {SIMULATORS}"
        )
    model = friction if friction is not None else FrictionModel(slippage_bps, commission_bps)
    if (
        friction is not None
        and isinstance(borrow_bps_per_year, float | int)
        and not borrow_bps_per_year
    ):
        borrow_bps_per_year = friction.borrow_bps_per_year
    _check_inputs(weights, returns)
    if simulator == "cvxportfolio":
        from tvs_pipeline.simulation.cvx import simulate_cvxportfolio

        return simulate_cvxportfolio(weights, returns, model, borrow_bps_per_year)
    decisions = weights.fillna(0.0).astype("float64")
    rows = returns.index[returns.index > decisions.index[0]]
    if not len(rows):
        raise DataError(
            f"simulate: no return row after the first decision {decisions.index[0].date()}"
        )
    _check_rates(borrow_bps_per_year)
    # Arrays over the weighted listings: this loop runs for every cell of a tournament.
    listings = decisions.columns
    targets = decisions.to_numpy(dtype="float64")
    r_all = returns.loc[rows, listings].to_numpy(dtype="float64")
    any_session = returns.loc[rows].notna().to_numpy().any(axis=1)  # holding nothing
    if isinstance(borrow_bps_per_year, pd.Series):
        rate = borrow_bps_per_year.reindex(listings).fillna(0.0).to_numpy(dtype="float64")
    else:
        rate = np.full(len(listings), float(borrow_bps_per_year))
    # The decision each return row trades to: the last one dated before the row, if it is new.
    position = np.searchsorted(decisions.index.to_numpy(), rows.to_numpy(), side="left") - 1
    # Borrow counts from the close the first decision trades at: the last row at or before it.
    before = returns.index[returns.index <= decisions.index[0]]
    previous = before[-1] if len(before) else decisions.index[0]
    held, since = np.zeros(len(listings)), np.ones(len(listings))
    last_used, equity = -1, 1.0
    records = np.zeros((len(rows), 11))
    flags = np.zeros((len(rows), 2), dtype=bool)
    for k, (row, decided) in enumerate(zip(rows, position, strict=True)):
        rebalanced = decided > last_used
        turnover = 0.0
        book = held
        if rebalanced:
            book = np.where(np.abs(targets[decided]) > TRADE_EPS, targets[decided], 0.0)
            moved = np.abs(book - held)
            turnover = float(moved.sum())
            since = np.where(moved <= TRADE_EPS, since, 1.0)
            last_used = decided
        cost = model.cost(turnover)
        days = float((row - previous).days)
        step = _session_step(book, since, r_all[k], rate, cost, days)
        session = step.session if book.any() else bool(any_session[k])
        borrow = step.borrow if session else 0.0
        net = step.gross - cost - borrow
        equity *= 1.0 + net
        long, short = float(book[book > 0].sum()), float(-book[book < 0].sum())
        records[k] = (step.gross, cost, borrow, cost + borrow, net, turnover, equity,
                      long, short, long + short, long - short)  # fmt: skip
        # A trade on a day none of the held listings trade still costs: a session.
        flags[k] = (session or turnover > 0.0, rebalanced)
        held = np.where(np.abs(step.weights) > TRADE_EPS, step.weights, 0.0)
        since = np.where(held != 0.0, step.since, 1.0)
        if step.session:
            previous = row
    ledger = pd.DataFrame(records, index=rows, columns=list(LEDGER_COLUMNS[:11]))
    return ledger.assign(session=flags[:, 0], rebalanced=flags[:, 1])


def _check_rates(borrow_bps_per_year: float | pd.Series) -> None:
    """Borrow rates are finite and >= 0 (a Series may leave listings out, or NaN: 0)."""
    if isinstance(borrow_bps_per_year, pd.Series):
        values = borrow_bps_per_year.dropna().to_numpy(dtype="float64")
    else:
        values = np.array([float(borrow_bps_per_year)])
    if not np.isfinite(values).all() or (values < 0).any():
        raise ConfigError(
            f"simulate: borrow_bps_per_year {borrow_bps_per_year!r}: expected finite rates >= 0"
        )


def _check_inputs(weights: pd.DataFrame, returns: pd.DataFrame) -> None:
    for name, frame in (("weights", weights), ("returns", returns)):
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"simulate: {name} is {type(frame).__name__}, expected a DataFrame")
        if frame.empty:
            raise DataError(f"simulate: {name} has no rows or no columns")
        index = frame.index
        if not isinstance(index, pd.DatetimeIndex) or index.tz is not None:
            raise DataError(f"simulate: {name} index must be naive dates")
        if not index.is_monotonic_increasing or index.has_duplicates:
            raise DataError(f"simulate: {name} dates must be sorted and unique")
        values = frame.to_numpy(dtype="float64", na_value=math.nan)
        if np.isinf(values).any():
            raise DataError(f"simulate: {name} holds an infinite value")
    missing = weights.columns.difference(returns.columns)
    if len(missing):
        raise DataError(
            f"simulate: listings {sorted(map(str, missing))} have weights but no returns"
        )
