"""Speed targets of the foundation: `tvs run` for one day (default scale and 2,000 listings),
and `tvs backfill` of 60 days. Each runs the real command in a fresh TVS_HOME.

Targets: one day <= 60 s at the default scale, <= 5 min at 2,000 listings.
Usage: python benchmarks/run_benchmarks.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta

DAY = "2026-06-30"


def timed(args: list[str], home: str) -> float:
    env = {**os.environ, "TVS_HOME": home}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tvs_pipeline.cli", *args], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the 2,000-listing run")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as home:
        rows.append(
            ("tvs run, 1 day, scale 300 (cold home)", timed(["run", "--date", DAY], home), 60)
        )
        rows.append(
            ("tvs run, 1 day, scale 300 (warm home)", timed(["run", "--date", DAY], home), 60)
        )
    if not args.quick:
        with tempfile.TemporaryDirectory() as home:
            rows.append(
                (
                    "tvs run, 1 day, scale 2000",
                    timed(["run", "--date", DAY, "--scale", "2000"], home),
                    300,
                )
            )
    end = date.fromisoformat(DAY)
    start = end - timedelta(days=59)
    with tempfile.TemporaryDirectory() as home:
        rows.append(
            (
                "tvs backfill, 60 days, one run",
                timed(["backfill", "--start", start.isoformat(), "--end", DAY], home),
                None,
            )
        )
    print(f"{'benchmark':<42} {'seconds':>8} {'target':>8}")
    for name, seconds, target in rows:
        flag = "" if target is None else ("ok" if seconds <= target else "MISSED")
        print(f"{name:<42} {seconds:>8.1f} {target or '-':>8} {flag}")


if __name__ == "__main__":
    main()
