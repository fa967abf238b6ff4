"""Build a 20-day backfill of both paths, or compare two lakes partition by partition.

A refactor that must not change behaviour is checked by building a lake before it and one
after it, then comparing every partition file frame for frame (exact, dtypes included).

Usage:
    python benchmarks/lake_equal.py build HOME [--days 20] [--end 2026-06-30]
    python benchmarks/lake_equal.py compare HOME_BEFORE HOME_AFTER
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd


def build(home: Path, days: int, end: date) -> None:
    """``tvs backfill`` of both paths over ``days`` days ending ``end`` into ``home``."""
    start = end - timedelta(days=days - 1)
    env = {**os.environ, "TVS_HOME": str(home)}
    started = time.perf_counter()
    command = [sys.executable, "-m", "tvs_pipeline.cli", "backfill"]
    done = subprocess.run(
        [*command, "--start", start.isoformat(), "--end", end.isoformat()],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-3000:])
    print(f"built {home}: {days} days in {time.perf_counter() - started:.0f} s")


def partition_files(home: Path) -> dict[str, Path]:
    """Every partition file of the lake, keyed by ``asset/date=D``."""
    lake = home / "lake"
    return {str(p.parent.relative_to(lake)): p for p in sorted(lake.glob("*/date=*/*.parquet"))}


def compare(before: Path, after: Path) -> int:
    """Print every partition that differs; the number of differences."""
    old, new = partition_files(before), partition_files(after)
    problems = [f"only before: {key}" for key in sorted(old.keys() - new.keys())]
    problems += [f"only after: {key}" for key in sorted(new.keys() - old.keys())]
    for key in sorted(old.keys() & new.keys()):
        a, b = pd.read_parquet(old[key]), pd.read_parquet(new[key])
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        except AssertionError as err:
            problems.append(f"{key}: {str(err).splitlines()[0]}")
    assets = sorted({key.split("/")[0] for key in old})
    print(
        f"{len(old.keys() & new.keys())} partitions of "
        f"{len(assets)} assets compared ({', '.join(assets)})"
    )
    for line in problems:
        print("  DIFF", line)
    print("frame-equal" if not problems else f"{len(problems)} differences")
    return len(problems)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("home", type=Path)
    b.add_argument("--days", type=int, default=20)
    b.add_argument("--end", default="2026-06-30")
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "build":
        build(args.home, args.days, date.fromisoformat(args.end))
    else:
        raise SystemExit(1 if compare(args.before, args.after) else 0)


if __name__ == "__main__":
    main()
