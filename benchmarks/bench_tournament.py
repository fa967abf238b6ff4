"""The walk-forward tournament's cost: one cell, then a whole grid, and what dominates it.

Reads a home a backfill left (`bench_backfill.py --home DIR`, 500 days for the issue's
target: the `full` grid in <= 15 min on this 2-core machine). Prints the time of a one-cell
grid, of the whole grid, and the cumulative time of the tournament's parts (selection,
allocation, the vectorized simulations, the cvxportfolio re-run of the leaders, ranking).
Usage: python benchmarks/bench_tournament.py --home DIR [--grid full] [--start D] [--end D]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from datetime import date, timedelta

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from tvs_pipeline.config import load_profile
from tvs_pipeline.config.schema import TournamentConfig, TournamentGrid
from tvs_pipeline.defs.assets.tournament import DAY_INPUTS, partition_stamps, tournament_inputs
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.settings import load_settings
from tvs_pipeline.simulation.tournament import run_tournament

PARTS = {
    "selection (select_day)": "select_day",
    "synthesis (build_atoms)": "build_atoms",
    "allocation (target_weights)": "target_weights",
    "simulation, vectorized + cvxportfolio (simulate)": "simulate",
    "cvxportfolio re-run of the leaders": "_rerun_leaders",
    "deflated Sharpe and PBO": "_deflate",
    "reading the stored days": "load_day",
}


def timed(reader, profile, start, end, grid, **extra):
    started = time.perf_counter()
    inputs = tournament_inputs(reader, profile, start, end, grid)
    profiler = cProfile.Profile()
    profiler.enable()
    result = run_tournament(**inputs, **extra)
    profiler.disable()
    return time.perf_counter() - started, result, pstats.Stats(profiler)


def cumulative(stats: pstats.Stats, name: str) -> float:
    return sum(v[3] for k, v in stats.stats.items() if k[2] == name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--grid", default="full")
    parser.add_argument("--end", default="2026-06-30")
    parser.add_argument("--start", default=None)
    parser.add_argument("--skip-one", action="store_true", help="skip the one-cell timing")
    args = parser.parse_args()
    settings = load_settings({"TVS_HOME": args.home})
    profile = load_profile(settings.profile)
    end = date.fromisoformat(args.end)
    start = date.fromisoformat(args.start) if args.start else end - timedelta(days=499)
    spec = profile.tournament.grids[args.grid]
    one = TournamentConfig(
        grid="one",
        grids={
            **profile.tournament.grids,
            "one": TournamentGrid(
                selection=spec.selection[:1], engines=spec.engines[:1], profiles=spec.profiles[:1]
            ),
        },
    )
    reader = LakeReader(settings.lake_root)
    if not args.skip_one:
        one_profile = profile.model_copy(update={"tournament": one})
        cell, _, _ = timed(reader, one_profile, start, end, "one")
        print(f"one cell ({spec.selection[0]}/{spec.engines[0]}/{spec.profiles[0]}): {cell:.1f} s")
    stamps = partition_stamps(settings.lake_root, DAY_INPUTS)
    whole, result, stats = timed(reader, profile, start, end, args.grid, stamps=stamps)
    cells = len(spec.selection) * len(spec.engines) * len(spec.profiles)
    dates = result.books["rebalance_date"].nunique()
    print(
        f"grid {args.grid} ({cells} cells, {start}..{end}, {dates} rebalance dates): "
        f"{whole:.0f} s, {len(result.board)} board rows"
    )
    for label, name in PARTS.items():
        print(f"  {label:<50} {cumulative(stats, name):7.1f} s")
    warm, again, stats = timed(
        reader, profile, start, end, args.grid, stamps=stamps, known=result.books
    )
    print(f"the same grid, every book reused ({again.reused} date x engine pairs): {warm:.1f} s")
    for label, name in PARTS.items():
        print(f"  {label:<50} {cumulative(stats, name):7.1f} s")
    last = result.books["rebalance_date"].max()
    fewer = result.books.loc[result.books["rebalance_date"] < last]
    new, again, _ = timed(reader, profile, start, end, args.grid, stamps=stamps, known=fewer)
    print(f"the same grid, the last rebalance date decided again: {new:.1f} s")


if __name__ == "__main__":
    main()
