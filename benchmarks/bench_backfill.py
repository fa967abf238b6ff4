"""A single-run backfill of both paths on the demo market (target: 500 days <= 10 min).

Runs `tvs backfill` (champion range run, then challenger range run) in a fresh TVS_HOME and
prints the wall time, the number of runs, and each step's time from the Dagster instance.
Usage: python benchmarks/bench_backfill.py [--days 500] [--end 2026-06-30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta

import dagster as dg


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=500)
    parser.add_argument("--end", default="2026-06-30")
    args = parser.parse_args()
    end = date.fromisoformat(args.end)
    start = end - timedelta(days=args.days - 1)
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "TVS_HOME": home}
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tvs_pipeline.cli",
                "backfill",
                "--start",
                start.isoformat(),
                "--end",
                end.isoformat(),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        with dg.DagsterInstance.from_config(os.path.join(home, "dagster")) as instance:
            runs = instance.get_runs()
            print(f"{args.days}-day backfill of both paths: {wall:.0f} s wall, {len(runs)} runs")
            for run in reversed(runs):
                stats = instance.get_run_step_stats(run.run_id)
                total = sum((s.end_time or 0) - (s.start_time or 0) for s in stats)
                print(f"  run {run.job_name:<8} {run.status.value:<8} steps {total:7.1f} s")
                for s in stats:
                    print(f"    {s.step_key:<24} {(s.end_time or 0) - (s.start_time or 0):7.1f} s")


if __name__ == "__main__":
    main()
