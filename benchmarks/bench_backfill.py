"""A single-run backfill of both paths on the demo market (target: 500 days <= 10 min).

Runs `tvs backfill` (champion range run, then challenger range run) in a fresh TVS_HOME (or
``--home``, kept afterwards) and prints the wall time, the number of runs, each step's time
from the Dagster instance, and the out-of-sample ledger's share (the two `simulation` steps;
target <= 5 % of the backfill).
Usage: python benchmarks/bench_backfill.py [--days 500] [--end 2026-06-30] [--home DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import date, timedelta

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import dagster as dg

LEDGER_STEPS = ("simulation", "simulation_challenger")


def backfill(home: str, start: date, end: date) -> float:
    """Run `tvs backfill` over ``[start, end]`` in ``home``; the wall time in seconds."""
    env = {**os.environ, "TVS_HOME": home}
    started = time.perf_counter()
    argv = ["backfill", "--start", start.isoformat(), "--end", end.isoformat()]
    done = subprocess.run(
        [sys.executable, "-m", "tvs_pipeline.cli", *argv], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return time.perf_counter() - started


def step_times(home: str) -> list[tuple[str, str, float]]:
    """(job, step, seconds) of every run in the home's instance, oldest run first."""
    rows = []
    with dg.DagsterInstance.from_config(os.path.join(home, "dagster")) as instance:
        for run in reversed(instance.get_runs()):
            for s in instance.get_run_step_stats(run.run_id):
                rows.append((run.job_name, s.step_key, (s.end_time or 0) - (s.start_time or 0)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=500)
    parser.add_argument("--end", default="2026-06-30")
    parser.add_argument("--home", help="keep the lake here (default: a temporary folder)")
    args = parser.parse_args()
    end = date.fromisoformat(args.end)
    start = end - timedelta(days=args.days - 1)
    place = nullcontext(args.home) if args.home else tempfile.TemporaryDirectory()
    with place as home:
        wall = backfill(home, start, end)
        steps = step_times(home)
        jobs = sorted({job for job, _, _ in steps})
        print(f"{args.days}-day backfill of both paths: {wall:.0f} s wall, {len(jobs)} runs")
        for job in jobs:
            mine = [(step, t) for j, step, t in steps if j == job]
            print(f"  run {job:<8} steps {sum(t for _, t in mine):7.1f} s")
            for step, t in mine:
                print(f"    {step:<24} {t:7.1f} s")
        ledger = sum(t for _, step, t in steps if step in LEDGER_STEPS)
        print(
            f"out-of-sample ledger ({' + '.join(LEDGER_STEPS)}): {ledger:.1f} s = "
            f"{ledger / wall:.1%} of the backfill's wall time (target <= 5 %)"
        )


if __name__ == "__main__":
    main()
