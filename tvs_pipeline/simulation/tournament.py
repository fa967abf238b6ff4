"""The walk-forward tournament: every selection engine x allocation engine x profile, out of sample.

At each rebalance date t the stored, point-in-time partitions of t (the OK listings' panel,
dedup's candidates, the market of t) are re-selected by each selection engine, synthesised and
allocated by each engine x profile with the daily path's own functions (`select_day`,
`build_atoms`, `target_weights`); each book is held to the next rebalance and simulated on the
listings' session returns with the profile's friction. Nothing at t reads data after t.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from tvs_pipeline.allocation.book import target_weights
from tvs_pipeline.allocation.params import AllocationParams
from tvs_pipeline.allocation.rebalance import rebalance_reason
from tvs_pipeline.allocation.weights import flatten_weights
from tvs_pipeline.errors import ConfigError, DataError, OptimizationError
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
from tvs_pipeline.synthesis.atoms import build_atoms, composition

__all__ = [
    "BOARD_COLUMNS",
    "BOOK_COLUMNS",
    "DayData",
    "Grid",
    "Tournament",
    "rebalance_dates",
    "regime_board",
    "run_tournament",
    "strategy_name",
]

BOARD_COLUMNS = (
    "strategy",
    "selection",
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
    "max_simulator_gap",
)
TOP_RERUN = 10  # the leaders re-run through cvxportfolio's simulator (a grid may ask fewer)
# The books a tournament decided, one row per (strategy, rebalance date, listing): a later
# tournament reuses a date's books when its key (inputs, parameters, version) is the same.
# An empty book is one row without a symbol; a failed cell one row with its ``failure``.
BOOK_COLUMNS = ("strategy", "rebalance_date", "key", "symbol", "weight", "failure")
PBO_SPLITS = 16


@dataclass(frozen=True)
class DayData:
    """What the tournament reads of one rebalance date: the stored partitions of t."""

    panel: pd.DataFrame
    dedup: pd.DataFrame
    market: pd.DataFrame


@dataclass(frozen=True)
class Grid:
    """The cells of a tournament: selection engines x allocation engines x profiles."""

    selection: tuple[str, ...]
    engines: tuple[str, ...]
    profiles: tuple[str, ...]
    rerun: int = TOP_RERUN

    def cells(self) -> list[tuple[str, str, str]]:
        """Every (selection, engine, profile)."""
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
        ``BOOK_COLUMNS``: every cell's book at every rebalance date, for a later run to reuse.
    """

    board: pd.DataFrame
    returns: pd.DataFrame
    pbo: float
    decisions: dict[str, pd.DataFrame] = field(default_factory=dict)
    regimes: pd.DataFrame = field(default_factory=pd.DataFrame)
    books: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=BOOK_COLUMNS))
    reused: int = 0  # rebalance dates x selection engines taken from ``known`` books


def strategy_name(selection: str, engine: str, profile: str) -> str:
    """``selection/engine/profile``: a strategy's key in the board and the return table."""
    return f"{selection}/{engine}/{profile}"


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
) -> Tournament:
    """Walk the grid forward over ``dates`` and rank its strategies, out of sample.

    Parameters
    ----------
    dates : sequence of date
        The rebalance dates, in order (`rebalance_dates`).
    load_day : callable
        ``load_day(t)`` -> the stored partitions of ``t`` (`DayData`); called once per date.
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

    Returns
    -------
    Tournament
    """
    if not dates:
        raise DataError("tournament: no rebalance date in the range")
    books: dict[str, dict[date, pd.Series]] = {}
    failures: dict[str, str] = {}
    stored = _known_books(known)
    reused = 0
    for day in dates:
        data: DayData | None = None
        stamp = stamps(day) if stamps is not None else None
        for engine in grid.selection:
            names = _cell_names(engine, grid)
            key = _book_key(stamp, engine, selection, allocation)
            cached = stored.get((day, key))
            needed = {name for name in names if name not in failures}
            if key is not None and cached is not None and needed <= set(cached):
                reused += 1
                for name in (n for n in names if n in needed):  # the order of a fresh run
                    _keep(books, failures, name, day, cached[name])
                continue
            data = data if data is not None else load_day(day)
            decided = select_day(data.panel, data.dedup, selection, day, engine)
            atoms = build_atoms(decided, data.panel)
            _keep(books, failures, names[0], day, _equal_book(atoms))
            for name in names[1:]:
                if name in failures:
                    continue
                _, alloc, profile = name.split("/")
                config = allocation.updated(engine=alloc, profile=profile, fallback=[])
                try:
                    book = target_weights(atoms, config, decided, data.market)
                except (OptimizationError, ConfigError, DataError) as err:
                    _keep(books, failures, name, day, f"{day}: {' '.join(str(err).split())}")
                    continue
                _keep(books, failures, name, day, _physical(book))
    result = _rank(books, failures, returns, universe, grid, friction, borrow)
    result.books = _book_rows(books, failures, dates, stamps, grid, selection, allocation)
    result.reused = reused
    if regimes is not None:
        result.regimes = regime_board(result.returns, regimes, result.board)
    return result


def _cell_names(engine: str, grid: Grid) -> list[str]:
    """A selection engine's strategies: its equal-weight reference, then each cell's."""
    return [strategy_name(engine, "equal", "selected")] + [
        strategy_name(engine, e, p) for e in grid.engines for p in grid.profiles
    ]


def _keep(
    books: dict[str, dict[date, pd.Series]],
    failures: dict[str, str],
    name: str,
    day: date,
    book: pd.Series | str,
) -> None:
    """Record a cell's book of ``day``, or its failure (a text): later dates skip it."""
    if isinstance(book, str):
        failures[name] = book
    else:
        books.setdefault(name, {})[day] = book


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


# The code a book is decided by: `select_day`, `build_atoms`, `target_weights` and what they call.
_DECIDING_CODE = ("selection", "synthesis", "allocation", "funnel", "simulation/tournament.py")


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


def _known_books(known: pd.DataFrame | None) -> dict[tuple[date, str], dict[str, pd.Series | str]]:
    """(date, key) -> strategy -> its stored book, or its failure text."""
    found: dict[tuple[date, str], dict[str, pd.Series | str]] = {}
    if known is None or known.empty:
        return found
    frame = known.assign(rebalance_date=pd.DatetimeIndex(known["rebalance_date"]).date)
    for (day, key, name), rows in frame.groupby(["rebalance_date", "key", "strategy"], sort=False):
        failure = rows["failure"].dropna()
        held = rows.dropna(subset=["symbol"])
        found.setdefault((day, key), {})[name] = (
            str(failure.iloc[0])
            if len(failure)
            else pd.Series(
                held["weight"].to_numpy(dtype="float64"), index=held["symbol"].to_numpy()
            )
        )
    return found


def _book_rows(
    books: dict[str, dict[date, pd.Series]],
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
                    book = books[name][day]
                    rows = pd.DataFrame(
                        {"symbol": book.index.astype(str), "weight": book.to_numpy()}
                    )
                    if rows.empty:  # nothing selected: one row says so
                        rows = pd.DataFrame({"symbol": [None], "weight": [math.nan]})
                    frames.append(rows.assign(**head))
    if not frames:
        return pd.DataFrame(columns=list(BOOK_COLUMNS))
    rows = pd.concat(frames, ignore_index=True).reindex(columns=list(BOOK_COLUMNS))
    return rows.assign(rebalance_date=pd.to_datetime(rows["rebalance_date"]))


def _equal_book(atoms: pd.DataFrame) -> pd.Series:
    """The selected atoms at equal weight, as physical net weights (selection alpha's book)."""
    if atoms.empty:
        return pd.Series(dtype="float64")
    comp = composition(atoms)
    weights = pd.DataFrame({"atom_id": comp["atom_id"], "weight": 1.0 / len(comp)})
    return flatten_weights(weights, comp).set_index("symbol")["net_weight"]


def _physical(book: pd.DataFrame) -> pd.Series:
    if book.empty:
        return pd.Series(dtype="float64")
    rows = book.loc[book["kind"] == "physical"]
    return pd.Series(rows["net_weight"].to_numpy(dtype="float64"), index=rows["symbol"])


def _rank(
    books: dict[str, dict[date, pd.Series]],
    failures: dict[str, str],
    returns: pd.DataFrame,
    universe: pd.Series,
    grid: Grid,
    friction: FrictionModel,
    borrow: pd.Series | float,
) -> Tournament:
    """Simulate every cell, score it, deflate its Sharpe, and order the board."""
    ledgers: dict[str, pd.DataFrame] = {}
    decisions: dict[str, pd.DataFrame] = {}
    for name, by_day in books.items():
        if name in failures:
            continue
        weights = pd.DataFrame(by_day).T.sort_index().fillna(0.0)
        weights.index = pd.DatetimeIndex(weights.index)
        weights = weights.reindex(columns=weights.columns.intersection(returns.columns))
        decisions[name] = weights
        ledger = simulate(weights, returns, friction=friction, borrow_bps_per_year=borrow)
        ledgers[name] = ledger.assign(universe_return=universe.reindex(ledger.index))
    rows = []
    for name, ledger in ledgers.items():
        rows.append(_row(name, ledger, "vectorized", len(decisions[name])))
    for name, reason in failures.items():
        rows.append({**_cell(name), "simulator": "vectorized", "status": f"failed {reason}"})
    board = pd.DataFrame(rows).reindex(columns=list(BOARD_COLUMNS))
    nets = pd.DataFrame({n: led.loc[led["session"], "net"] for n, led in ledgers.items()})
    nets = nets.fillna(0.0)
    pbo = _deflate(board, nets)
    board = _rerun_leaders(board, decisions, ledgers, returns, friction, borrow, grid.rerun)
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
    selection adds before any allocation, and every cell of that engine reports it.
    """
    reference = board.loc[(board["engine"] == "equal") & (board["simulator"] == "vectorized")]
    alpha = dict(zip(reference["selection"], reference["selection_alpha"], strict=True))
    return board.assign(selection_alpha=board["selection"].map(alpha))


def rebalance_dates(days: Sequence[date], calendars: list[str], step: int) -> list[date]:
    """The days of ``days`` on the cadence grid: every ``step``-th shared session of ``calendars``.

    The grid the nightly book rebalances on (`tvs_pipeline.allocation.rebalance`), so a
    tournament cell and the nightly path trade on the same dates.
    """
    return [
        day
        for day in days
        if rebalance_reason(
            has_book=True, calendars=calendars, as_of=day, step=step, drift=0.0, tolerance=1.0
        )
        == "cadence"
    ]


def _cell(name: str) -> dict[str, str]:
    selection, engine, profile = name.split("/")
    return {"strategy": name, "selection": selection, "engine": engine, "profile": profile}


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
) -> pd.DataFrame:
    """The ``top`` cells by Sharpe again through cvxportfolio; the gap on each row."""
    leaders = board.loc[board["status"] == "ok"].nlargest(top, "sharpe")
    extra = []
    for index, row in leaders.iterrows():
        name = row["strategy"]
        try:
            other = simulate(
                decisions[name],
                returns,
                friction=friction,
                borrow_bps_per_year=borrow,
                simulator="cvxportfolio",
            )
        except ConfigError as err:  # the cvxportfolio extra is not installed
            board.at[index, "max_simulator_gap"] = math.nan
            board.at[index, "status"] = f"ok (no cross-check: {err})"
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
            }
        )
    if not extra:
        return board
    return pd.concat(
        [board, pd.DataFrame(extra).reindex(columns=list(BOARD_COLUMNS))], ignore_index=True
    )
