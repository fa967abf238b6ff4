"""Build a 20-day backfill of both paths, or compare two lakes partition by partition.

A refactor that must not change behaviour is checked by building a lake before it and one
after it, then comparing every partition file frame for frame (exact, dtypes included).

Usage:
    python benchmarks/lake_equal.py build HOME [--days 20] [--end 2026-06-30]
    python benchmarks/lake_equal.py compare HOME_BEFORE HOME_AFTER [--new-assets a,b]
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


def _rooted(frame: pd.DataFrame, home: Path) -> pd.DataFrame:
    """Text cells with the home's path written as ``$TVS_HOME`` (report paths name the home)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(
                lambda v: v.replace(str(home), "$TVS_HOME") if isinstance(v, str) else v
            )
    return out


def compare(before: Path, after: Path, new_assets: tuple[str, ...] = ()) -> int:
    """Print every partition that differs; the number of differences.

    Assets named in ``new_assets`` may exist after only (a frame the change adds).
    """
    old, new = partition_files(before), partition_files(after)
    added = sorted(k for k in new.keys() - old.keys() if k.split("/")[0] in new_assets)
    problems = [f"only before: {key}" for key in sorted(old.keys() - new.keys())]
    problems += [
        f"only after: {key}" for key in sorted(new.keys() - old.keys()) if key not in added
    ]
    if added:
        print(f"{len(added)} partitions of new assets {', '.join(new_assets)} (expected)")
    for key in sorted(old.keys() & new.keys()):
        a = _rooted(pd.read_parquet(old[key]), before)
        b = _rooted(pd.read_parquet(new[key]), after)
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
    c.add_argument("--new-assets", default="", help="comma-separated assets the change adds")
    args = parser.parse_args()
    if args.command == "build":
        build(args.home, args.days, date.fromisoformat(args.end))
    else:
        added = tuple(a for a in args.new_assets.split(",") if a)
        raise SystemExit(1 if compare(args.before, args.after, added) else 0)


if __name__ == "__main__":
    main()
