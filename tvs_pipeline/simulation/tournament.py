"""The walk-forward tournament: every selection engine x allocation engine x profile, out of sample.

At each rebalance date t the stored, point-in-time partitions of t (the OK listings' panel,
dedup's candidates, the market of t) are re-selected by each selection engine, synthesised and
allocated by each engine x profile with the daily path's own functions (`select_day`,
`build_atoms`, `target_weights`), on the atoms of each grid entry of logics; each book is held to
the next rebalance, re-signed on the day a held atom's side flips (the nightly book's ``signal``
rule, `flipped_atoms`), and simulated on the listings' session returns with the profile's
friction. Nothing at t reads data after t. The dates' decisions and the cells' simulations go
through a day-level executor (`tvs_pipeline.parallel.map_calls` by default in this process).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tvs_pipeline.allocation.book import target_weights
from tvs_pipeline.allocation.params import AllocationParams
from tvs_pipeline.allocation.rebalance import flipped_atoms, rebalance_reason
from tvs_pipeline.errors import ConfigError, DataError, OptimizationError
from tvs_pipeline.parallel import map_calls
from tvs_pipeline.selection.day import select_day
from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.simulation.friction import FrictionModel
from tvs_pipeline.simulation.metrics import ledger_metrics
from tvs_pipeline.simulation.overfitting import (
    deflated_sharpe_ratio,
    distinct_trials,
    probability_of_backtest_overfitting,
)
from tvs_pipeline.simulation.simulator import simulate
from tvs_pipeline.synthesis.atoms import COMPOSITION_COLUMNS, build_atoms, composition
from tvs_pipeline.synthesis.positions import SIGNAL_LOGICS, close_sides

__all__ = [
    "ALL_LOGICS",
    "BOARD_COLUMNS",
    "BOOK_COLUMNS",
    "DayData",
    "Grid",
    "Tournament",
    "held_sides",
    "rebalance_dates",
    "regime_board",
    "run_tournament",
    "strategy_name",
]

BOARD_COLUMNS = (
    "strategy",
    "selection",
    "logics",
    "engine",
    "profile",
    "simulator",
    "status",
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "cvar_95",
    "turnover_annual",
    "cost_drag",
    "selection_alpha",
    "avg_net_exposure",
    "deflated_sharpe",
    "pbo",
    "n_trials",
    "sessions",
    "rebalances",
    "signal_rebalances",
    "logic_shares",
    "timescale_shares",
    "max_simulator_gap",
)
TOP_RERUN = 10  # the leaders re-run through cvxportfolio's simulator (a grid may ask fewer)
# The books a tournament decided, one row per (strategy, rebalance date, atom): a later
# tournament reuses a date's books when its key (inputs, parameters, version) is the same.
# An empty book is one row without an atom; a failed cell one row with its ``failure``.
BOOK_COLUMNS = ("strategy", "rebalance_date", "key", *COMPOSITION_COLUMNS, "weight", "failure")
# An atom book: one row per atom of a cell's decision, its composition and its weight.
ATOM_BOOK = (*COMPOSITION_COLUMNS, "weight")
PBO_SPLITS = 16
# A grid's entry of logics that keeps every atom; any other entry names logics joined by "+".
ALL_LOGICS = "all"
# Dates read and sent to the executor at once: enough calls to spread (`MIN_PARALLEL_CALLS`),
# few enough stored days in memory.
DATES_PER_BATCH = 16
# ``run_calls(function, calls, shared)``: an executor's map (`ComputeResource.map`).
RunCalls = Callable[[Callable[..., Any], Sequence[Mapping[str, Any]], Mapping[str, Any]], list]


@dataclass(frozen=True)
class DayData:
    """What the tournament reads of one rebalance date: the stored partitions of t."""

    panel: pd.DataFrame
    dedup: pd.DataFrame
    market: pd.DataFrame


@dataclass(frozen=True)
class Grid:
    """The cells of a tournament: selection engines x logics x allocation engines x profiles.

    ``logics``: each entry restricts a cell's atoms to the logics it names (``trend``,
    ``mean_reversion+rating``), or keeps them all (`ALL_LOGICS`).
    """

    selection: tuple[str, ...]
    engines: tuple[str, ...]
    profiles: tuple[str, ...]
    rerun: int = TOP_RERUN
    logics: tuple[str, ...] = (ALL_LOGICS,)

    def cells(self) -> list[tuple[str, str, str]]:
        """Every (selection, engine, profile) (each once per entry of ``logics``)."""
        return [(s, e, p) for s in self.selection for e in self.engines for p in self.profiles]


@dataclass
class Tournament:
    """The result: one leaderboard row per strategy and each strategy's daily net series.

    Attributes
    ----------
    board : DataFrame
        ``BOARD_COLUMNS``, best deflated Sharpe first (failed cells last, ``status`` says why).
    returns : DataFrame
        Long: ``strategy``, ``date``, ``net`` (the vectorized simulator's sessions).
    pbo : float
        The grid's probability of backtest overfitting.
    books : DataFrame
        ``BOOK_COLUMNS``: every cell's atom book at every rebalance date, for a later run to
        reuse (the re-signs between dates follow from them and the returns).
    decisions : dict
        Strategy -> its physical weights by trade date (rebalance dates and re-signs).
    """

    board: pd.DataFrame
    returns: pd.DataFrame
    pbo: float
    decisions: dict[str, pd.DataFrame] = field(default_factory=dict)
    regimes: pd.DataFrame = field(default_factory=pd.DataFrame)
    books: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BOOK_COLUMNS))
    reused: int = 0  # rebalance dates x selection engines taken from ``known`` books


def strategy_name(selection: str, engine: str, profile: str, logics: str = ALL_LOGICS) -> str:
    """``selection/engine/profile``: a strategy's key in the board and the return table.

    A cell restricted to some logics names them after its selection engine:
    ``htr_3_4:mean_reversion/custom/min_variance``.
    """
    first = selection if logics == ALL_LOGICS else f"{selection}:{logics}"
    return f"{first}/{engine}/{profile}"


def run_tournament(
    dates: Sequence[date],
    load_day: Callable[[date], DayData],
    returns: pd.DataFrame,
    universe: pd.Series,
    grid: Grid,
    selection: SelectionParams,
    allocation: AllocationParams,
    friction: FrictionModel,
    borrow: pd.Series | float = 0.0,
    regimes: pd.Series | None = None,
    stamps: Callable[[date], str | None] | None = None,
    known: pd.DataFrame | None = None,
    history: pd.DataFrame | None = None,
    run_calls: RunCalls | None = None,
) -> Tournament:
    """Walk the grid forward over ``dates`` and rank its strategies, out of sample.

    Parameters
    ----------
    dates : sequence of date
        The rebalance dates, in order (`rebalance_dates`).
    load_day : callable
        ``load_day(t)`` -> the stored partitions of ``t`` (`DayData`); called once per date
        decided (none for a date whose books are all reused), in date order.
    returns : DataFrame
        Index: every calendar day of the span (naive), columns: listings; each listing's
        return of that session, NaN where none (`track_record.session_matrix`).
    universe : Series
        The raw universe's equal-weight return per day (NaN on non-sessions).
    grid : Grid
        The cells.
    selection, allocation : parameters
        The profile's blocks; each cell overrides the selection engine, and the allocation
        engine and profile (with no fallback: a failing engine is the cell's failure).
    friction : FrictionModel
        Charged by both simulators.
    borrow : Series or float
        Borrow rates in bps a year, per listing.
    regimes : Series, optional
        Day -> the market regime read at its close; with it, `regime_board` proposes a
        profile per regime (``Tournament.regimes``).
    stamps : callable, optional
        ``stamps(t)`` -> a token that changes whenever a partition `load_day` reads for ``t``
        changes (None: unknown, never reused).
    known : DataFrame, optional
        ``BOOK_COLUMNS`` of an earlier tournament: a selection engine's books at ``t`` are
        taken from it, without reading or deciding ``t`` again, when their key (``stamps(t)``,
        the parameters, the engine, `code_fingerprint`) is the one this run would use.
    history : DataFrame, optional
        Own-session returns before ``returns`` starts (``symbol``, ``market_date``, ``ret``:
        the first date's panel): the signal atoms' sides read them as their earlier closes.
    run_calls : callable, optional
        ``run_calls(function, calls, shared)`` -> ``[function(**shared, **call) ...]`` in call
        order, e.g. ``ComputeResource.map`` (local processes or a Dask cluster); default: here.

    Returns
    -------
    Tournament
    """
    if not dates:
        raise DataError("tournament: no rebalance date in the range")
    run_calls = run_calls or _here
    stored = _known_books(known)
    decided: dict[tuple[date, str], dict[str, pd.DataFrame | str]] = {}
    failed: set[str] = set()  # cells a stored book says failed on an earlier date
    fresh: list[tuple[date, str]] = []
    reused = 0
    for day in dates:
        stamp = stamps(day) if stamps is not None else None
        for engine in grid.selection:
            names = _cell_names(engine, grid)
            key = _book_key(stamp, engine, selection, allocation)
            cached = stored.get((day, key), {}) if key is not None else {}
            needed = {name for name in names if name not in failed}
            if key is not None and cached and needed <= set(cached):
                reused += 1
                decided[(day, engine)] = {n: cached[n] for n in names if n in needed}
                failed |= {n for n in needed if isinstance(cached[n], str)}
            else:
                fresh.append((day, engine))
    shared = {"grid": grid, "selection": selection, "allocation": allocation}
    for batch in _by_dates(fresh, DATES_PER_BATCH):
        calls = _fresh_calls(batch, load_day)
        for key, books in zip(batch, run_calls(_decide_date, calls, shared), strict=True):
            decided[key] = books
    books, failures = _in_date_order(decided, dates, grid)
    sides = held_sides(_signal_atoms(books), returns, history)
    result = _rank(books, failures, returns, universe, grid, friction, borrow, sides, run_calls)
    result.books = _book_rows(books, failures, dates, stamps, grid, selection, allocation)
    result.reused = reused
    if regimes is not None:
        result.regimes = regime_board(result.returns, regimes, result.board)
    return result


def _here(
    function: Callable[..., Any], calls: Sequence[Mapping[str, Any]], shared: Mapping[str, Any]
) -> list:
    """Every call in this process (`map_calls` with one worker)."""
    return map_calls(function, calls, workers=1, shared=shared)


def _by_dates(fresh: list[tuple[date, str]], size: int) -> list[list[tuple[date, str]]]:
    """The (date, engine) pairs in batches of ``size`` dates (the dates in memory at once)."""
    days = sorted({day for day, _ in fresh})
    groups = [set(days[i : i + size]) for i in range(0, len(days), size)]
    return [[pair for pair in fresh if pair[0] in group] for group in groups]


def _fresh_calls(fresh: list[tuple[date, str]], load_day: Callable[[date], DayData]) -> list:
    """One call per (date, selection engine) to decide; each date read once, in order."""
    loaded: dict[date, DayData] = {}
    calls = []
    for day, engine in fresh:
        if day not in loaded:
            loaded = {day: load_day(day)}  # the dates come in order: keep one
        calls.append({"day": day, "engine": engine, "data": loaded[day]})
    return calls


def _decide_date(
    day: date,
    engine: str,
    data: DayData,
    grid: Grid,
    selection: SelectionParams,
    allocation: AllocationParams,
) -> dict[str, pd.DataFrame | str]:
    """A selection engine's books at ``day``: strategy -> its atom book, or its failure text.

    The day's selection and atoms once; each entry of the grid's logics keeps its atoms; the
    equal-weight reference and every (engine, profile) cell allocate them.
    """
    decided = select_day(data.panel, data.dedup, selection, day, engine)
    atoms = build_atoms(decided, data.panel)
    books: dict[str, pd.DataFrame | str] = {}
    for logics in grid.logics:
        chosen = _of_logics(atoms, logics)
        books[strategy_name(engine, "equal", "selected", logics)] = _equal_book(chosen)
        for alloc in grid.engines:
            for profile in grid.profiles:
                name = strategy_name(engine, alloc, profile, logics)
                config = allocation.updated(engine=alloc, profile=profile, fallback=[])
                try:
                    book = target_weights(chosen, config, decided, data.market)
                except (OptimizationError, ConfigError, DataError) as err:
                    books[name] = f"{day}: {' '.join(str(err).split())}"
                    continue
                books[name] = _atom_book(book)
    return books


def _of_logics(atoms: pd.DataFrame, logics: str) -> pd.DataFrame:
    """The atoms of the logics an entry names (all of them for `ALL_LOGICS`)."""
    if logics == ALL_LOGICS:
        return atoms
    return atoms.loc[atoms["logic"].isin(logics.split("+"))].reset_index(drop=True)


def _in_date_order(
    decided: dict[tuple[date, str], dict[str, pd.DataFrame | str]],
    dates: Sequence[date],
    grid: Grid,
) -> tuple[dict[str, dict[date, pd.DataFrame]], dict[str, str]]:
    """Each cell's books by date up to its first failure, and that failure's text."""
    books: dict[str, dict[date, pd.DataFrame]] = {}
    failures: dict[str, str] = {}
    for day in dates:
        for engine in grid.selection:
            for name in _cell_names(engine, grid):
                book = decided[(day, engine)].get(name)
                if name in failures or book is None:
                    continue
                if isinstance(book, str):
                    failures[name] = book
                else:
                    books.setdefault(name, {})[day] = book
    return books, failures


def _cell_names(engine: str, grid: Grid) -> list[str]:
    """A selection engine's strategies: per entry of logics, equal weight then each cell."""
    return [
        name
        for logics in grid.logics
        for name in [strategy_name(engine, "equal", "selected", logics)]
        + [strategy_name(engine, e, p, logics) for e in grid.engines for p in grid.profiles]
    ]


def _book_key(
    stamp: str | None, engine: str, selection: SelectionParams, allocation: AllocationParams
) -> str | None:
    """What a selection engine's books at a date depend on, hashed; None when unknown."""
    if stamp is None:
        return None
    text = json.dumps(
        [stamp, engine, code_fingerprint(), selection.model_dump(mode="json"),
         allocation.model_dump(mode="json")],
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()


# The code a book is decided by: `select_day`, `build_atoms`, `target_weights` and what they
# call, and the rule that re-signs it between dates (`allocation/rebalance.py`, `synthesis`);
# `indicators.py` holds the technical rating that selection and the rating's signal read.
_DECIDING_CODE = (
    "selection",
    "synthesis",
    "allocation",
    "funnel",
    "indicators.py",
    "simulation/tournament.py",
)


@functools.cache
def code_fingerprint(package: Path | None = None) -> str:
    """A sha256 of the source that decides a tournament's books (`_DECIDING_CODE`).

    A package version is not bumped by every change of a rule; the source is. A stored book
    decided by other code is never reused. ``package``: the package folder (default: this one).
    """
    package = package or Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for part in _DECIDING_CODE:
        path = package / part
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(package).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def _known_books(
    known: pd.DataFrame | None,
) -> dict[tuple[date, str], dict[str, pd.DataFrame | str]]:
    """(date, key) -> strategy -> its stored atom book, or its failure text.

    A table of another layout (an older version's, keyed by other code) holds nothing usable.
    """
    found: dict[tuple[date, str], dict[str, pd.DataFrame | str]] = {}
    if known is None or known.empty or not set(BOOK_COLUMNS) <= set(known.columns):
        return found
    frame = known.assign(rebalance_date=pd.DatetimeIndex(known["rebalance_date"]).date)
    for (day, key, name), rows in frame.groupby(["rebalance_date", "key", "strategy"], sort=False):
        failure = rows["failure"].dropna()
        held = rows.dropna(subset=["atom_id"])
        found.setdefault((day, key), {})[name] = (
            str(failure.iloc[0]) if len(failure) else _typed(held[list(ATOM_BOOK)])
        )
    return found


def _typed(book: pd.DataFrame) -> pd.DataFrame:
    """An atom book with the dtypes a fresh one has (a stored table widens some)."""
    return book.astype(
        {"sign": "int64", "timescale": "int64", "weight": "float64"}
        | {c: "object" for c in ("atom_id", "symbol", "logic", "direction", "sleeve", "calendar")}
    ).reset_index(drop=True)


def _book_rows(
    books: dict[str, dict[date, pd.DataFrame]],
    failures: dict[str, str],
    dates: Sequence[date],
    stamps: Callable[[date], str | None] | None,
    grid: Grid,
    selection: SelectionParams,
    allocation: AllocationParams,
) -> pd.DataFrame:
    """``BOOK_COLUMNS`` of this run: what a later run may reuse (none without stamps)."""
    if stamps is None:
        return pd.DataFrame(columns=list(BOOK_COLUMNS))
    failed_on = {name: date.fromisoformat(text[:10]) for name, text in failures.items()}
    frames = []
    for day in dates:
        for engine in grid.selection:
            key = _book_key(stamps(day), engine, selection, allocation)
            if key is None:
                continue
            for name in _cell_names(engine, grid):
                head = {"strategy": name, "rebalance_date": day, "key": key}
                if failed_on.get(name) == day:
                    frames.append(pd.DataFrame([{**head, "failure": failures[name]}]))
                elif day in books.get(name, {}):
                    rows = books[name][day]
                    if rows.empty:  # nothing selected: one row says so
                        rows = pd.DataFrame({"atom_id": [None], "weight": [math.nan]})
                    frames.append(rows.assign(**head))
    if not frames:
        return pd.DataFrame(columns=list(BOOK_COLUMNS))
    rows = pd.concat(frames, ignore_index=True).reindex(columns=list(BOOK_COLUMNS))
    return rows.assign(rebalance_date=pd.to_datetime(rows["rebalance_date"]))


def _equal_book(atoms: pd.DataFrame) -> pd.DataFrame:
    """The selected atoms at equal weight (selection alpha's book), as an atom book."""
    if atoms.empty:
        return _typed(pd.DataFrame(columns=list(ATOM_BOOK)))
    comp = composition(atoms)
    return _typed(comp.assign(weight=1.0 / len(comp))[list(ATOM_BOOK)].sort_values("atom_id"))


def _atom_book(book: pd.DataFrame) -> pd.DataFrame:
    """The atom rows of `target_weights`' book: ``ATOM_BOOK``, by atom."""
    if book.empty:
        return _typed(pd.DataFrame(columns=list(ATOM_BOOK)))
    rows = book.loc[book["kind"] == "atom", list(ATOM_BOOK)]
    return _typed(rows.sort_values("atom_id"))


def _signal_atoms(books: dict[str, dict[date, pd.DataFrame]]) -> pd.DataFrame:
    """The distinct atoms of a signal logic in any book (``atom_id``, symbol, logic, side)."""
    frames = [
        book.loc[book["logic"].isin(SIGNAL_LOGICS), ["atom_id", "symbol", "logic", "direction"]]
        for by_day in books.values()
        for book in by_day.values()
    ]
    if not frames:
        return pd.DataFrame(columns=["atom_id", "symbol", "logic", "direction"])
    return pd.concat(frames).drop_duplicates("atom_id").sort_values("atom_id")


def held_sides(
    atoms: pd.DataFrame, returns: pd.DataFrame, history: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Each atom's side on every day: its logic's signal at its last close, as that day saw it.

    The side an atom's logic decides at a close (`close_sides`, the rule of `positions`' last
    element: the ``sign`` the nightly synthesis gives the atom) from its own returns up to that
    close: ``history``'s, completed by ``returns``' sessions. It changes only on a day the
    listing has a session in ``returns`` (a day it is out of the stored panel, its synthesis
    has no such atom: its side is the day before's). Row D reads no close after D.

    Parameters
    ----------
    atoms : DataFrame
        ``atom_id``, ``symbol``, ``logic``, ``direction``: one row per atom.
    returns : DataFrame
        Index: calendar days; columns: listings; NaN where no session (or no stored row).
    history : DataFrame, optional
        ``symbol``, ``market_date``, ``ret``: own-session returns (before and within the
        span; a session in both keeps ``history``'s return).

    Returns
    -------
    DataFrame
        Index ``returns``' days, one int64 column (+1/-1) per atom.
    """
    days = returns.index.to_numpy(dtype="datetime64[ns]")
    known: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if history is not None and len(history):
        ordered = history.sort_values(["symbol", "market_date"], kind="mergesort")
        dates = pd.DatetimeIndex(ordered["market_date"]).to_numpy(dtype="datetime64[ns]")
        values = ordered["ret"].to_numpy(dtype="float64")
        symbols = ordered["symbol"].to_numpy()
        starts = np.flatnonzero(np.r_[True, symbols[1:] != symbols[:-1]])
        for first, last in zip(starts, np.r_[starts[1:], len(symbols)], strict=True):
            known[symbols[first]] = (dates[first:last], values[first:last])
    empty = (np.array([], dtype="datetime64[ns]"), np.array([], dtype="float64"))
    columns = {}
    for atom in atoms.itertuples(index=False):
        past_dates, past = known.get(atom.symbol, empty)
        now = (
            returns[atom.symbol].to_numpy(dtype="float64")
            if atom.symbol in returns
            else np.full(len(days), np.nan)
        )
        stored = np.isfinite(now)
        extra = stored & ~np.isin(days, past_dates)
        own_dates = np.concatenate([past_dates, days[extra]])
        order = np.argsort(own_dates, kind="mergesort")
        own_dates = own_dates[order]
        own = np.concatenate([past, now[extra]])[order]
        keep = np.r_[True, own_dates[1:] != own_dates[:-1]] if len(own_dates) else []
        own_dates, own = own_dates[keep], own[keep]
        side = close_sides(own, atom.logic, atom.direction)
        # The side as of each day (its last close up to it), moving only on stored sessions.
        as_of = side[np.searchsorted(own_dates, days, side="right")]
        moves = stored.copy()
        moves[0] = True
        last = np.maximum.accumulate(np.where(moves, np.arange(len(days)), 0))
        columns[atom.atom_id] = as_of[last]
    return pd.DataFrame(columns, index=returns.index, dtype="int64")


def _resigned(
    books: dict[date, pd.DataFrame], sides: pd.DataFrame, end: pd.Timestamp
) -> tuple[pd.DataFrame, int]:
    """A cell's physical weights, re-signed on each day a held atom's side flips.

    The ``signal`` rule: between two decided dates the book keeps its atoms and their weights;
    on a day where `flipped_atoms` finds a held atom (non-zero weight) whose side at that
    close (``sides``) differs from the side held (the nightly book's ``signal`` reason), the
    book is traded to its atoms at their new sides.

    Returns
    -------
    (DataFrame, int)
        Net weights ``Σ sign·w`` by trade date (the decided dates and the re-signs) and
        symbol (0 where not held), and the number of re-signs.
    """
    blocks, resigns = [], 0
    ordered = sorted(books)
    for at, day in enumerate(ordered):
        book = books[day].loc[books[day]["weight"] != 0]
        symbols, where = np.unique(book["symbol"].to_numpy(dtype=str), return_inverse=True)
        weight = book["weight"].to_numpy(dtype="float64")
        sign = book["sign"].to_numpy(dtype="float64")
        rows, nets = [pd.Timestamp(day)], [np.bincount(where, sign * weight, len(symbols))]
        live = np.flatnonzero(book["atom_id"].isin(sides.columns).to_numpy())
        if len(live):
            # Up to the next decided date (which trades its own book), or through ``end``.
            after = sides.index > pd.Timestamp(day)
            if at + 1 < len(ordered):
                after &= sides.index < pd.Timestamp(ordered[at + 1])
            else:
                after &= sides.index <= end
            ids = pd.Index(book["atom_id"].to_numpy()[live])
            window = sides.loc[after, ids]
            values = window.to_numpy(dtype="float64")
            # Once a flip is traded the side held is the day's, so a flip comes only on the
            # first day or on a day some side moved: only those are asked.
            moved = np.r_[True, (values[1:] != values[:-1]).any(axis=1)] if len(values) else []
            for when, today in zip(window.index[moved], values[moved], strict=True):
                held = pd.Series(sign[live], index=ids, copy=False)
                if not flipped_atoms(held, pd.Series(today, index=ids, copy=False)):
                    continue
                sign = sign.copy()
                sign[live] = today
                rows.append(when)
                nets.append(np.bincount(where, sign * weight, len(symbols)))
                resigns += 1
        blocks.append(pd.DataFrame(np.array(nets).reshape(len(rows), len(symbols)),
                                   index=pd.DatetimeIndex(rows), columns=symbols))  # fmt: skip
    return pd.concat(blocks).fillna(0.0), resigns


def _cell_run(
    name: str,
    books: dict[date, pd.DataFrame],
    returns: pd.DataFrame,
    universe: pd.Series,
    sides: pd.DataFrame,
    friction: FrictionModel,
    borrow: pd.Series | float,
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """One cell: its books re-signed, simulated: (weights by trade date, ledger, signal days)."""
    weights, resigns = _resigned(books, sides, returns.index[-1])
    weights = weights.sort_index().sort_index(axis=1)
    weights = weights.reindex(columns=weights.columns.intersection(returns.columns))
    ledger = simulate(weights, returns, friction=friction, borrow_bps_per_year=borrow)
    ledger = ledger.assign(universe_return=universe.reindex(ledger.index))
    return weights, ledger, resigns


def _shares(books: dict[date, pd.DataFrame], by: str) -> str:
    """Each value of ``by``'s gross weight share, averaged over the non-empty decided books.

    ``by``: ``logic`` or ``timescale``. JSON, e.g. ``{"mean_reversion": 0.4, "trend": 0.6}``.
    """
    shares = []
    for book in books.values():
        gross = book["weight"].abs()
        if gross.sum() > 0:
            shares.append(gross.groupby(book[by].astype(str)).sum() / gross.sum())
    if not shares:
        return "{}"
    mean = pd.concat(shares, axis=1).fillna(0.0).mean(axis=1).sort_index()
    return json.dumps({str(k): float(v) for k, v in mean.items()})


def _rank(
    books: dict[str, dict[date, pd.DataFrame]],
    failures: dict[str, str],
    returns: pd.DataFrame,
    universe: pd.Series,
    grid: Grid,
    friction: FrictionModel,
    borrow: pd.Series | float,
    sides: pd.DataFrame,
    run_calls: RunCalls,
) -> Tournament:
    """Simulate every cell, score it, deflate its Sharpe, and order the board."""
    names = [name for name in books if name not in failures]
    shared = {
        "returns": returns, "universe": universe, "sides": sides, "friction": friction,
        "borrow": borrow,
    }  # fmt: skip
    runs = run_calls(_cell_run, [{"name": n, "books": books[n]} for n in names], shared)
    decisions = {name: run[0] for name, run in zip(names, runs, strict=True)}
    ledgers = {name: run[1] for name, run in zip(names, runs, strict=True)}
    rows = []
    for name, (weights, ledger, signals) in zip(names, runs, strict=True):
        row = _row(name, ledger, "vectorized", len(weights))
        rows.append(
            {
                **row,
                "signal_rebalances": signals,
                "logic_shares": _shares(books[name], "logic"),
                "timescale_shares": _shares(books[name], "timescale"),
            }
        )
    for name, reason in failures.items():
        rows.append({**_cell(name), "simulator": "vectorized", "status": f"failed {reason}"})
    board = pd.DataFrame(rows).reindex(columns=list(BOARD_COLUMNS))
    nets = pd.DataFrame({n: led.loc[led["session"], "net"] for n, led in ledgers.items()})
    nets = nets.fillna(0.0)
    pbo = _deflate(board, nets)
    board = _rerun_leaders(board, decisions, ledgers, returns, friction, borrow, grid.rerun,
                           run_calls)  # fmt: skip
    board = _selection_alpha(board)
    failed = ~board["status"].astype(str).str.startswith("ok")
    board = board.assign(_failed=failed).sort_values(
        ["_failed", "deflated_sharpe", "sharpe"], ascending=[True, False, False]
    )
    board = board.drop(columns="_failed")
    long = (
        nets.rename_axis("date")
        .reset_index()
        .melt(id_vars="date", var_name="strategy", value_name="net")
    )
    return Tournament(
        board=board.reset_index(drop=True),
        returns=long[["strategy", "date", "net"]],
        pbo=pbo,
        decisions=decisions,
    )


def regime_board(returns: pd.DataFrame, regimes: pd.Series, board: pd.DataFrame) -> pd.DataFrame:
    """The best profile under each regime: the mapping `profile: auto` could use.

    A session earns the book decided at the close before it, so a session is credited to the
    regime read at that close (the last one before it). Under each regime, each strategy's
    per-session Sharpe ratio over that regime's sessions is deflated over the regime's
    distinct trials (§11.7); each profile is represented by its best cell, and the profile
    whose best cell has the highest deflated Sharpe is proposed.

    Parameters
    ----------
    returns : DataFrame
        ``Tournament.returns`` (``strategy``, ``date``, ``net``).
    regimes : Series
        Day -> regime label, read at that day's close.
    board : DataFrame
        The leaderboard (its vectorized, ok rows name each strategy's profile).

    Returns
    -------
    DataFrame
        One row per (regime, profile): ``regime``, ``profile``, ``strategy`` (its best cell),
        ``sessions``, ``sharpe`` (per session), ``deflated_sharpe``, ``proposed`` (bool).
    """
    # The `equal/selected` reference books are no profile `auto` could choose.
    ok = board.loc[
        (board["simulator"] == "vectorized")
        & (board["status"] == "ok")
        & (board["engine"] != "equal")
    ]
    profiles = dict(zip(ok["strategy"], ok["profile"], strict=True))
    wide = returns.loc[returns["strategy"].isin(profiles)].pivot_table(
        index="date", columns="strategy", values="net", fill_value=0.0
    )
    ordered = regimes.sort_index()
    before = ordered.index.searchsorted(wide.index, side="left") - 1
    credited = pd.Series(
        np.where(before >= 0, ordered.to_numpy()[np.maximum(before, 0)], None), index=wide.index
    )
    rows = []
    for regime, sessions in wide.groupby(credited.to_numpy()):
        if regime is None or len(sessions) < 3:
            continue
        sharpe = sessions.mean() / sessions.std(ddof=1).replace(0.0, np.nan)
        n_trials = distinct_trials(sessions)
        variance = float(sharpe.var(ddof=1)) if n_trials > 1 else 0.0
        best = pd.DataFrame({"sharpe": sharpe, "profile": [profiles[c] for c in sharpe.index]})
        for profile, group in best.dropna().groupby("profile"):
            strategy = group["sharpe"].idxmax()
            series = sessions[strategy]
            deflated = deflated_sharpe_ratio(
                float(group["sharpe"].max()), n_trials, variance, len(series),
                float(series.skew()), float(series.kurt()) + 3.0,
            )  # fmt: skip
            rows.append((regime, profile, strategy, len(series), group["sharpe"].max(), deflated))
    table = pd.DataFrame(
        rows,
        columns=["regime", "profile", "strategy", "sessions", "sharpe", "deflated_sharpe"],
    )
    if table.empty:
        return table.assign(proposed=pd.Series(dtype=bool))
    # One profile per regime: the highest deflated Sharpe, then (when it saturates) Sharpe.
    ranked = table.sort_values(["deflated_sharpe", "sharpe"], ascending=False)
    best = ranked.groupby("regime").head(1).index
    return table.assign(proposed=table.index.isin(best))


def _selection_alpha(board: pd.DataFrame) -> pd.DataFrame:
    """Each row's selection alpha: its selection engine's equal-weight book against the universe.

    The row ``<selection>/equal/selected`` holds the selected atoms at equal weight; its
    ``selection_alpha`` (net minus the raw universe's equal weight, annualised) is what the
    selection adds before any allocation, and every cell of that engine (and entry of
    logics) reports it.
    """
    reference = board.loc[(board["engine"] == "equal") & (board["simulator"] == "vectorized")]
    keys = ["selection", "logics"]
    alpha = reference.set_index(keys)["selection_alpha"]
    mapped = alpha.reindex(pd.MultiIndex.from_frame(board[keys])).to_numpy()
    return board.assign(selection_alpha=mapped)


def rebalance_dates(
    days: Sequence[date], calendars: Sequence[str] | Mapping[date, Sequence[str]], step: int
) -> list[date]:
    """The days of ``days`` on the cadence grid: every ``step``-th shared session of ``calendars``.

    The grid the nightly book rebalances on (`tvs_pipeline.allocation.rebalance`), so a
    tournament cell and the nightly path trade on the same dates. ``calendars``: the same for
    every day, or each day's own (the calendars stored on that day): a day is then on the grid
    or not from what was known on it, never from a sleeve that appears later in the range.
    """
    of_day = calendars if isinstance(calendars, Mapping) else dict.fromkeys(days, calendars)
    return [
        day
        for day in days
        if rebalance_reason(
            has_book=True,
            calendars=sorted(set(of_day.get(day, ()))),
            as_of=day,
            step=step,
            drift=0.0,
            tolerance=1.0,
        )
        == "cadence"
    ]


def _cell(name: str) -> dict[str, str]:
    """A strategy's name (`strategy_name`) as its board columns."""
    first, engine, profile = name.split("/")
    selection, _, logics = first.partition(":")
    return {"strategy": name, "selection": selection, "logics": logics or ALL_LOGICS,
            "engine": engine, "profile": profile}  # fmt: skip


def _row(name: str, ledger: pd.DataFrame, simulator: str, rebalances: int) -> dict[str, object]:
    frame = ledger.rename_axis("date").reset_index()
    try:
        numbers = ledger_metrics(frame)
    except DataError as err:
        return {**_cell(name), "simulator": simulator, "status": f"failed {err}"}
    return {
        **_cell(name),
        "simulator": simulator,
        "status": "ok",
        **{k: numbers[k] for k in BOARD_COLUMNS if k in numbers},
        "sessions": int(frame["session"].sum()),
        "rebalances": rebalances,
    }


def _deflate(board: pd.DataFrame, nets: pd.DataFrame) -> float:
    """Fill ``deflated_sharpe``, ``pbo`` and ``n_trials``; the grid's PBO."""
    ok = board["status"] == "ok"
    if nets.shape[1] < 2 or not ok.any():
        board.loc[ok, ["n_trials"]] = nets.shape[1]
        return math.nan
    n_trials = distinct_trials(nets)
    per_period = nets.mean() / nets.std(ddof=1).replace(0.0, np.nan)
    variance = float(per_period.var(ddof=1)) if n_trials > 1 else 0.0
    try:
        pbo = probability_of_backtest_overfitting(nets, n_splits=PBO_SPLITS)
    except (ConfigError, DataError):
        pbo = math.nan
    for index in board.index[ok]:
        name = board.at[index, "strategy"]
        series = nets[name]
        sharpe = per_period[name]
        board.at[index, "deflated_sharpe"] = (
            deflated_sharpe_ratio(
                float(sharpe),
                n_trials,
                variance,
                len(series),
                float(series.skew()),
                float(series.kurt()) + 3.0,
            )
            if np.isfinite(sharpe)
            else math.nan
        )
    board.loc[ok, "pbo"] = pbo
    board.loc[ok, "n_trials"] = n_trials
    return pbo


def _rerun_leaders(
    board: pd.DataFrame,
    decisions: dict[str, pd.DataFrame],
    ledgers: dict[str, pd.DataFrame],
    returns: pd.DataFrame,
    friction: FrictionModel,
    borrow: pd.Series | float,
    top: int = TOP_RERUN,
    run_calls: RunCalls | None = None,
) -> pd.DataFrame:
    """The ``top`` cells by Sharpe again through cvxportfolio; the gap on each row."""
    leaders = board.loc[board["status"] == "ok"].nlargest(top, "sharpe")
    calls = [{"weights": decisions[name]} for name in leaders["strategy"]]
    shared = {"returns": returns, "friction": friction, "borrow": borrow}
    others = (run_calls or _here)(_cvx_ledger, calls, shared)
    extra = []
    for (index, row), other in zip(leaders.iterrows(), others, strict=True):
        name = row["strategy"]
        if isinstance(other, str):  # the cvxportfolio extra is not installed
            board.at[index, "max_simulator_gap"] = math.nan
            board.at[index, "status"] = f"ok (no cross-check: {other})"
            continue
        ledger = ledgers[name]
        gap = float((other["net"] - ledger["net"]).abs().max())
        board.at[index, "max_simulator_gap"] = gap
        rerun = _row(
            name,
            other.assign(universe_return=ledger["universe_return"]),
            "cvxportfolio",
            row["rebalances"],
        )
        extra.append(
            {
                **rerun,
                "max_simulator_gap": gap,
                "deflated_sharpe": row["deflated_sharpe"],
                "pbo": row["pbo"],
                "n_trials": row["n_trials"],
                "signal_rebalances": row["signal_rebalances"],
                "logic_shares": row["logic_shares"],
                "timescale_shares": row["timescale_shares"],
            }
        )
    if not extra:
        return board
    return pd.concat(
        [board, pd.DataFrame(extra).reindex(columns=list(BOARD_COLUMNS))], ignore_index=True
    )


def _cvx_ledger(
    weights: pd.DataFrame,
    returns: pd.DataFrame,
    friction: FrictionModel,
    borrow: pd.Series | float,
) -> pd.DataFrame | str:
    """A cell's books through cvxportfolio's simulator; the error text without it."""
    try:
        return simulate(
            weights, returns, friction=friction, borrow_bps_per_year=borrow,
            simulator="cvxportfolio",
        )  # fmt: skip
    except ConfigError as err:
        return str(err)
