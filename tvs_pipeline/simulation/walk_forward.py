"""Friction-aware walk-forward: decide on data through t, trade and earn on t+1, drift between."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from tvs_pipeline.allocation.book import atom_scores
from tvs_pipeline.allocation.weights import allocate
from tvs_pipeline.config.schema import ResolvedProfile
from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.funnel.calendars import sessions_before
from tvs_pipeline.simulation.friction import FrictionModel
from tvs_pipeline.synthesis.atoms import atom_matrix, check_atom_matrix

__all__ = ["LEDGER_COLUMNS", "walk_forward", "walk_forward_ledger"]

LEDGER_COLUMNS: tuple[str, ...] = (
    "market_date",
    "gross_return",
    "cost",
    "net_return",
    "turnover",
    "equity",
    "exposure",
    "rebalanced",
)


def walk_forward(
    returns: pd.DataFrame,
    decide: Callable[[pd.DataFrame], pd.Series],
    step: int,
    warmup: int,
    friction: FrictionModel,
    *,
    phase: int | None = None,
) -> pd.DataFrame:
    """Simulate a book that rebalances every ``step`` rows and pays friction on each trade.

    Timing (DESIGN §1): rebalance rows are ``t = warmup − 1 + k·step``. At each one,
    ``decide`` sees ``returns`` through row ``t`` only and returns target weights ``w``. The
    trade executes on row ``t + 1``: that day the book holds ``w``, earns
    ``g = Σᵢ wᵢ·r_{t+1,i}`` (the close(t) → close(t+1) return) and pays
    ``c = friction.cost(τ)`` with ``τ = Σᵢ |wᵢ − w̃ᵢ|`` against the drifted weights ``w̃``
    held before the trade (zero before the first trade, so the first trade costs
    ``rate · Σ|w|``). A weight decided on ``t`` therefore never earns ``r_t``. Between
    rebalances no trade happens and weights drift: ``w̃ᵢ ← wᵢ(1 + rᵢ) / (1 + g)`` (the
    unallocated ``1 − Σw`` is cash at zero return). ``net = g − c`` (cost charged on the
    pre-trade equity; the ``c·g`` cross term is dropped) and ``equity`` compounds ``1 + net``
    from 1.0. A NaN return (atom not trading that day) counts as 0: the position is carried
    at an unchanged price and earns nothing. If ``1 + g ≤ 0`` the book is wiped out and holds
    nothing until the next trade. A decision on the last row has no execution day, so
    ``decide`` is not called there.

    With ``phase`` (the position of row 0 on a fixed session grid, e.g. its session count
    since an epoch), the entry decision stays on row ``warmup − 1`` and later rebalances fall
    on the grid: rows ``t`` with ``(phase + t) mod step = 0``. Walk-forwards over windows that
    start on different days then trade on the same dates, so their shared stretch agrees and
    their decisions can be reused.

    Parameters
    ----------
    returns : pandas.DataFrame
        Index: naive market dates (sorted, unique); columns: atom ids (str); daily simple
        returns, NaN where an atom has no data.
    decide : callable
        ``decide(history) -> pandas.Series`` of target weights indexed by atom id (a subset
        of ``returns.columns``; missing atoms get 0); ``history`` is ``returns`` through the
        rebalance date. Called once per rebalance, in date order.
    step : int
        Rows between rebalances (>= 1).
    warmup : int
        Rows of history before the first decision (>= 1): the first decision is on row
        ``warmup − 1`` and the first ledger day is row ``warmup``.
    friction : FrictionModel
        Prices each trade's turnover.
    phase : int, optional
        Grid position of row 0; ``None`` counts rebalances from the first decision.

    Returns
    -------
    pandas.DataFrame
        RangeIndex, one row per day from row ``warmup`` to the last. Columns:
        ``market_date`` (datetime64[ns]), ``gross_return``, ``cost``, ``net_return``,
        ``turnover`` (float), ``equity`` (float, compounding ``net_return`` from 1.0),
        ``exposure`` (float, Σ of the weights held over the day, after any trade) and
        ``rebalanced`` (bool, a trade executed that day).

    Raises
    ------
    ConfigError
        If ``step`` or ``warmup`` is not a positive integer.
    DataError
        If ``returns`` is malformed or has fewer than ``warmup + 1`` rows, or ``decide``
        returns something other than finite weights on known atoms.
    """
    _check_cadence(step, warmup)
    if phase is not None and (isinstance(phase, bool) or not isinstance(phase, int | np.integer)):
        raise ConfigError(f"walk_forward phase {phase!r}: expected an integer or None")
    _check_returns(returns, warmup)
    columns = returns.columns
    day_returns = np.nan_to_num(returns.to_numpy(dtype=float), nan=0.0)
    n_rows = len(returns)
    first_decision = warmup - 1

    held = np.zeros(len(columns))
    equity = 1.0
    records: dict[str, list] = {name: [] for name in LEDGER_COLUMNS}
    for day in range(warmup, n_rows):
        decision_row = day - 1
        if phase is None:
            rebalanced = (decision_row - first_decision) % step == 0
        else:
            rebalanced = decision_row == first_decision or (phase + decision_row) % step == 0
        if rebalanced:
            target = _target_weights(
                decide(returns.iloc[: decision_row + 1]), columns, returns.index[decision_row]
            )
            turnover = float(np.abs(target - held).sum())
            cost = friction.cost(turnover)
            weights = target
        else:
            turnover, cost, weights = 0.0, 0.0, held
        r = day_returns[day]
        gross = float(weights @ r)
        net = gross - cost
        equity *= 1.0 + net
        growth = 1.0 + gross
        held = weights * (1.0 + r) / growth if growth > 0.0 else np.zeros(len(columns))
        for name, value in (
            ("market_date", returns.index[day]),
            ("gross_return", gross),
            ("cost", cost),
            ("net_return", net),
            ("turnover", turnover),
            ("equity", equity),
            ("exposure", float(weights.sum())),
            ("rebalanced", rebalanced),
        ):
            records[name].append(value)

    ledger = pd.DataFrame(records)
    ledger["market_date"] = pd.to_datetime(ledger["market_date"]).astype("datetime64[ns]")
    ledger["rebalanced"] = ledger["rebalanced"].astype(bool)
    return ledger


def walk_forward_ledger(
    atoms: pd.DataFrame, profile: ResolvedProfile, decisions: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The friction-aware walk-forward of one day's atoms over the window ending D.

    The book is re-decided by the profile's allocation engine every ``run.step`` shared
    sessions after ``allocation.estimation_days`` of warm-up, and trades pay the profile's
    friction. Rebalances after the entry fall on the atoms' shared-session grid (``phase``),
    so the walk-forwards of consecutive days trade on the same dates.

    Parameters
    ----------
    atoms : DataFrame
        The ``synthesis`` rows of day D (`build_atoms`: ``ATOM_COLUMNS``, one row per atom and
        market date, nothing after D).
    profile : ResolvedProfile
        Supplies ``run.step``, the ``allocation`` block and the ``simulation`` friction.
    decisions : DataFrame, optional
        The role's ``selection`` rows of day D: their scores rank the barbell's sleeve.

    Returns
    -------
    DataFrame
        `walk_forward`'s ledger (``LEDGER_COLUMNS``, one row per market date after the
        warm-up); no rows when the day has no atom.
    """
    matrix = atom_matrix(atoms)
    if matrix.empty:
        return pd.DataFrame(columns=list(LEDGER_COLUMNS))

    scores = atom_scores(decisions)

    def decide(history: pd.DataFrame) -> pd.Series:
        book = allocate(history, profile.allocation, scores=scores)
        return book.set_index("atom_id")["weight"]

    return walk_forward(
        matrix,
        decide,
        step=profile.run.step,
        warmup=profile.allocation.estimation_days,
        friction=FrictionModel.from_config(profile.simulation),
        phase=sessions_before(atoms["calendar"].unique().tolist(), matrix.index[0]),
    )


def _check_cadence(step: int, warmup: int) -> None:
    for name, value in (("step", step), ("warmup", warmup)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ConfigError(f"walk_forward {name} {value!r}: expected an integer >= 1")


def _check_returns(returns: pd.DataFrame, warmup: int) -> None:
    check_atom_matrix(returns, "walk_forward")
    if len(returns) < warmup + 1:
        raise DataError(
            f"walk_forward: {len(returns)} rows, expected at least warmup + 1 = {warmup + 1}"
        )


def _target_weights(target: pd.Series, columns: pd.Index, when: pd.Timestamp) -> np.ndarray:
    """Validate ``decide``'s answer and align it to ``columns`` (absent atoms get 0)."""
    where = f"walk_forward {when.date()}: decide"
    if not isinstance(target, pd.Series):
        raise DataError(f"{where} returned {type(target).__name__}, expected a pandas Series")
    if target.index.has_duplicates:
        raise DataError(f"{where} returned duplicate atoms {sorted(map(str, target.index))}")
    unknown = target.index.difference(columns)
    if len(unknown):
        raise DataError(f"{where} returned weights for unknown atoms {sorted(map(str, unknown))}")
    values = pd.to_numeric(target, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise DataError(f"{where} returned non-finite weights, expected finite numbers")
    aligned = pd.Series(values, index=target.index).reindex(columns, fill_value=0.0)
    return aligned.to_numpy(dtype=float)
