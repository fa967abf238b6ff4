"""Research stage: the walk-forward tournament over the lake's stored days, on demand."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import json
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from tvs_pipeline.config.schema import ResolvedProfile
from tvs_pipeline.defs.carry import last_partition, session_returns
from tvs_pipeline.defs.partitions import DAILY, SINGLE_RUN, partition_days
from tvs_pipeline.defs.resources import (
    ComputeResource,
    LakeResource,
    ProfileResource,
    ReportResource,
)
from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.lake.custody import list_partitions
from tvs_pipeline.simulation.friction import FrictionModel
from tvs_pipeline.simulation.tearsheet import render_leaderboard
from tvs_pipeline.simulation.tournament import (
    DayData,
    Grid,
    RunCalls,
    Tournament,
    rebalance_dates,
    run_tournament,
)
from tvs_pipeline.simulation.track_record import session_matrix
from tvs_pipeline.synthesis.positions import SIGNAL_LOGICS

__all__ = [
    "GRID_TAG",
    "START_TAG",
    "leaderboard_markdown",
    "partition_stamps",
    "proposal_markdown",
    "stored_rebalance_dates",
    "tournament",
    "tournament_inputs",
    "tournament_of",
    "tournament_skip_reason",
]

# A run picks its range start and grid with these tags (the UI's launchpad or `tvs tournament`);
# without them: the profile's grid over the whole lookback before the partition day.
START_TAG, GRID_TAG = "tvs/tournament_start", "tvs/tournament_grid"
LEADERBOARD_ROWS = 10
# The stored partitions a rebalance date's books are decided from (`tournament_inputs`).
DAY_INPUTS = ("normalization", "dedup", "market")


def _research_spec(key: str, description: str) -> dg.AssetSpec:
    """One table of the tournament: group research, read from the stored funnel days."""
    return dg.AssetSpec(
        key,
        description=description,
        group_name="research",
        kinds={"pandas", "parquet"},
        deps=["normalization", "dedup", "market"],
    ).with_io_manager_key("io_manager")


@dg.multi_asset(
    # The op has its own name: the job is called `tournament`, and op and job names share one
    # namespace in a code location.
    name="walk_forward_tournament",
    specs=[
        _research_spec("tournament", "The leaderboard: one row per strategy, out of sample."),
        _research_spec("tournament_returns", "Each strategy's daily net return over its sessions."),
        _research_spec(
            "tournament_regimes", "The best profile under each regime: for `profile: auto`."
        ),
        _research_spec(
            "tournament_books",
            "Every cell's book at every rebalance date; the next tournament reuses a date's "
            "books when its stored partitions, parameters and version are unchanged.",
        ),
    ],
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
)
def tournament(
    context: dg.AssetExecutionContext,
    profile: ProfileResource,
    lake: LakeResource,
    reports: ReportResource,
    compute: ComputeResource,
):
    """Walk every selection engine x logics x allocation engine x profile forward to day D.

    Partition D is the tournament as of D: rebalance dates up to D, each reading only the
    stored partitions of its own date. The books of the latest stored ``tournament_books``
    up to D are reused where their key matches (a cache: the board is the same without it).
    The dates' decisions and the cells go to the run's executor (``$TVS_WORKERS`` local
    processes or the Dask cluster of ``$TVS_DASK_SCHEDULER``), whose results are the same.
    """
    resolved, reader = profile.resolved(), lake.reader()
    end = partition_days(context)[-1]
    tags = context.run.tags
    start = _start(tags.get(START_TAG), end, resolved)
    grid_name = tags.get(GRID_TAG) or resolved.tournament.grid
    known, _ = last_partition(reader, "tournament_books", end + timedelta(days=1))
    result = tournament_of(reader, resolved, start, end, grid_name, known, lake.root, compute.map)
    context.log.info(
        f"tournament {start}..{end}: reused the books of {result.reused} (date, selection "
        f"engine) pairs of {len(result.books['rebalance_date'].unique())} dates"
    )
    stamp = pd.Timestamp(end)
    board = result.board.assign(date=stamp, start=pd.Timestamp(start), grid=grid_name)
    page = render_leaderboard(
        result.board,
        result.returns,
        title=f"Tournament as of {end}, grid {grid_name} ({start}..{end})",
        directory=Path(reports.directory) / "tournament" / f"{start}_{end}_{grid_name}",
    )
    yield dg.Output(
        board,
        output_name="tournament",
        metadata={
            "leaders": dg.MetadataValue.md(page.markdown),
            "report": dg.MetadataValue.path(str(page.html)),
            "pbo": dg.MetadataValue.float(float(result.pbo)),
            "strategies": dg.MetadataValue.int(len(result.board)),
            "leaderboard": dg.MetadataValue.md(leaderboard_markdown(result.board)),
            "regime_profiles": dg.MetadataValue.md(proposal_markdown(result.regimes)),
        },
    )
    yield dg.Output(result.returns.assign(date=stamp), output_name="tournament_returns")
    yield dg.Output(result.regimes.assign(date=stamp), output_name="tournament_regimes")
    yield dg.Output(
        result.books.assign(date=stamp),
        output_name="tournament_books",
        metadata={"reused": dg.MetadataValue.int(result.reused)},
    )


def tournament_of(
    reader: LakeReader,
    profile: ResolvedProfile,
    start: date,
    end: date,
    grid_name: str,
    known: pd.DataFrame | None = None,
    root: str | None = None,
    run_calls: RunCalls | None = None,
) -> Tournament:
    """The tournament of ``grid_name`` over the stored days in ``[start, end]``.

    With the lake ``root``, books are keyed by the stored partitions they read, and those of
    ``known`` (an earlier ``tournament_books``) with the same key are reused. ``run_calls``:
    the executor's map (`ComputeResource.map`; default: this process).
    """
    inputs = tournament_inputs(reader, profile, start, end, grid_name)
    stamps = partition_stamps(root, DAY_INPUTS) if root is not None else None
    return run_tournament(**inputs, stamps=stamps, known=known, run_calls=run_calls)


def partition_stamps(root: str, assets: Sequence[str]) -> Callable[[date], str | None]:
    """``stamps(day)``: the stamp of each of the day's partition files of ``assets``.

    The lake's own listing, as its custody reads it (`list_partitions`): a rewritten
    partition gets a new stamp. None for a day missing one of ``assets``.
    """
    by_day: dict[date, list[str]] = {}
    for asset in assets:
        for key, stamp in list_partitions(root, asset).get(asset, {}).items():
            try:
                day = date.fromisoformat(key)
            except ValueError:  # not a day's partition
                continue
            by_day.setdefault(day, []).append(f"{asset}:{':'.join(map(str, stamp))}")

    def stamps(day: date) -> str | None:
        found = by_day.get(day, [])
        return "|".join(sorted(found)) if len(found) == len(assets) else None

    return stamps


def stored_rebalance_dates(
    reader: LakeReader, profile: ResolvedProfile, end: date, start: date | None = None
) -> list[date]:
    """The rebalance dates a tournament as of ``end`` would walk (default: the lookback).

    A nightly run starts the tournament only from two dates on: one date has no session after
    it to score.
    """
    start = start or _start(None, end, profile)
    stored = reader.read(
        "dedup",
        columns="distinct date, calendar",
        where="date between ? and ?",
        params=[start, end],
    )
    if stored is None or stored.empty:
        return []
    days = sorted(pd.DatetimeIndex(stored["date"].unique()).date)
    return rebalance_dates(days, calendars_by_day(stored), profile.run.step)


def calendars_by_day(stored: pd.DataFrame) -> dict[date, list[str]]:
    """Each stored day's calendars (``date`` and ``calendar`` columns of ``dedup`` rows)."""
    grouped = stored.groupby(pd.DatetimeIndex(stored["date"]).date)["calendar"]
    return {day: sorted(set(names)) for day, names in grouped}


def tournament_skip_reason(reader: LakeReader, profile: ResolvedProfile, day: date) -> str:
    """Why a nightly tournament as of ``day`` would not run ('' when it would).

    One rule for `tvs run` and the `tournament_after_nightly` sensor: the lookback must hold
    two rebalance dates (`stored_rebalance_dates`).
    """
    dates = stored_rebalance_dates(reader, profile, day)
    if len(dates) >= 2:
        return ""
    return (
        f"{len(dates)} rebalance date(s) stored in the lookback; the tournament needs two "
        "(`tvs backfill` fills the history)"
    )


def tournament_inputs(
    reader: LakeReader, profile: ResolvedProfile, start: date, end: date, grid_name: str
) -> dict[str, object]:
    """`run_tournament`'s arguments from the lake: dates, a day loader, returns, the grid.

    ``history``: the own-session returns of the signal logics' candidates (`_signal_history`),
    which the held atoms' sides read between the dates (`held_sides`).
    """
    grids = profile.tournament.grids
    if grid_name not in grids:
        raise ConfigError(f"tournament grid {grid_name!r}: expected one of {sorted(grids)}")
    spec = grids[grid_name]
    stored = reader.read(
        "dedup",
        columns="distinct date, symbol, sleeve, calendar",
        where="date between ? and ?",
        params=[start, end],
    )
    if stored is None or stored.empty:
        raise DataError(
            f"tournament {start}..{end}: the lake holds no dedup partition in the range; "
            "run `tvs backfill` over it first"
        )
    days = sorted(pd.DatetimeIndex(stored["date"].unique()).date)
    span = pd.date_range(days[0], end, freq="D")
    friction = FrictionModel.from_config(profile.simulation)
    sleeves = stored.drop_duplicates("symbol").set_index("symbol")["sleeve"]

    market = reader.read_days("market", days[0], end)

    def load_day(day: date) -> DayData:
        read = {
            name: reader.read(name, where="date = ?", params=[day]).drop(columns=["date"])
            for name in DAY_INPUTS
        }
        return DayData(panel=read["normalization"], dedup=read["dedup"], market=read["market"])

    return {
        "dates": rebalance_dates(days, calendars_by_day(stored), profile.run.step),
        "load_day": load_day,
        "returns": session_matrix(session_returns(reader, list(span.date)), span),
        "history": _signal_history(reader, days[0], end),
        "universe": _universe(market, span),
        "regimes": _regimes(market),
        "grid": Grid(
            tuple(spec.selection),
            tuple(spec.engines),
            tuple(spec.profiles),
            spec.rerun,
            tuple(spec.logics),
        ),
        "selection": profile.selection.params(),
        "allocation": profile.allocation,
        "friction": friction,
        "borrow": friction.borrow_rates(sleeves),
    }


def _signal_history(reader: LakeReader, start: date, end: date) -> pd.DataFrame:
    """Each signal-logic candidate's own-session returns, every session the stored panels hold.

    The ``normalization`` partitions of ``[start, end]`` (each a 500-day window up to its
    day), one row per (symbol, market date) with the return as first stored: a listing out of
    some days' panels still has every session a later panel shows, as that panel's synthesis
    reads it.
    """
    logics = ", ".join(f"'{logic}'" for logic in SIGNAL_LOGICS)
    symbols = reader.read(
        "dedup",
        columns="distinct symbol",
        where=f"date between ? and ? and logic in ({logics})",
        params=[start, end],
    )
    if symbols is None or symbols.empty:
        return pd.DataFrame(columns=["symbol", "market_date", "ret"])
    # `LakeReader.read` runs `select <columns> from … where <where>`: the clause ends with the
    # grouping, one row per session across the overlapping windows.
    rows = reader.read(
        "normalization",
        columns="symbol, market_date, arg_min(ret, date) as ret",
        where="date between ? and ? and symbol in (select symbol from signal) "
        "group by symbol, market_date",
        params=[start, end],
        frames={"signal": symbols},
    )
    return rows if rows is not None else pd.DataFrame(columns=["symbol", "market_date", "ret"])


def leaderboard_markdown(board: pd.DataFrame, rows: int = LEADERBOARD_ROWS) -> str:
    """The board's top rows as a Markdown table (Sharpe beside its deflated Sharpe).

    ``logic_shares``: each logic's average gross weight share (``trend 62 % · mean_reversion
    38 %``), then ``signal_rebalances``, the re-signs on a flipped side.
    """
    columns = ["strategy", "simulator", "sharpe", "deflated_sharpe", "annual_return",
               "max_drawdown", "turnover_annual", "cost_drag", "selection_alpha",
               "max_simulator_gap", "logic_shares", "signal_rebalances", "status"]  # fmt: skip
    top = board.head(rows)
    top = top.assign(logic_shares=top["logic_shares"].map(_shares_text))
    return top.reindex(columns=columns).to_markdown(index=False, floatfmt=".3f")


def _shares_text(shares: object) -> str:
    """``{"mean_reversion": 0.38, "trend": 0.62}`` as ``trend 62 % · mean_reversion 38 %``."""
    if not isinstance(shares, str) or not shares:
        return ""
    ordered = sorted(json.loads(shares).items(), key=lambda item: -item[1])
    return " · ".join(f"{name} {share:.0%}".replace("%", " %") for name, share in ordered)


# The proposal picks each regime's best cell on the sessions it then reports: its returns are
# out of sample, its choice is not.
PROPOSAL_CAVEAT = (
    "_Returns out of sample; the choice in sample (each regime's best cell on the sessions "
    "it is scored on, deflated for the trials): confirm it on later sessions._"
)


def proposal_markdown(regimes: pd.DataFrame) -> str:
    """The profile each regime's leaderboard proposes for ``allocation.profile: auto``."""
    if regimes.empty:
        return "_no regime with three sessions or more_"
    chosen = regimes.loc[regimes["proposed"]].sort_values("regime")
    columns = ["regime", "profile", "strategy", "sessions", "sharpe", "deflated_sharpe"]
    return f"{chosen[columns].to_markdown(index=False, floatfmt='.3f')}\n\n{PROPOSAL_CAVEAT}"


def _start(text: str | None, end: date, profile: ResolvedProfile) -> date:
    if not text:
        return end - timedelta(days=profile.run.lookback_days - 1)
    try:
        start = date.fromisoformat(text)
    except ValueError as err:
        raise ConfigError(f"tournament start {text!r}: expected YYYY-MM-DD") from err
    if start > end:
        raise ConfigError(f"tournament start {start} is after its end {end}")
    return start


def _regimes(market: pd.DataFrame | None) -> pd.Series:
    """Day -> the regime read at its close (the ``market`` partition's label)."""
    if market is None or market.empty:
        return pd.Series(dtype="object")
    first = market.drop_duplicates("date")
    return pd.Series(first["regime"].to_numpy(), index=pd.DatetimeIndex(first["date"]))


def _universe(market: pd.DataFrame | None, span: pd.DatetimeIndex) -> pd.Series:
    """The raw universe's equal-weight return of each day (the ``market`` row dated that day)."""
    if market is None or market.empty:
        return pd.Series(float("nan"), index=span)
    own = market.loc[market["market_date"] == market["date"]]
    return pd.Series(own["index_return"].to_numpy(), index=pd.DatetimeIndex(own["date"])).reindex(
        span
    )
