"""Scale-out benchmark: one backfill three ways on this machine, compared frame by frame.

1. ``single``: one run per path (the champion's nightly over the range, then the shadow), the
   days of long steps spread over ``--workers`` forked local processes (today's default);
2. ``chunked``: `tvs backfill --chunk-days`: the bars sync as one run, then one asset backfill of
   both paths' day-independent stages in ``ceil(days / 4)``-day runs (4 chunks), run by a real
   ``dagster-daemon`` whose queue admits ``--concurrent`` runs at once, each with
   ``--workers / --concurrent`` processes, then one of the stages in day order, one run per
   stage with ``--workers`` processes;
3. ``dask``: as ``single``, the days spread over a Dask ``LocalCluster`` of ``--workers``
   worker processes on 127.0.0.1 (TVS_DASK_SCHEDULER).

Prints each wall time, its ratio to ``single``, the runs of the chunked backfill with their
wall times and the per-run and per-partition Dagster overhead derived from them, and checks
that both distributed lakes equal the single run's.

Usage:
    python benchmarks/bench_scaleout.py [--days 500] [--end 2026-06-30] [--workers 2]
        [--concurrent 2] [--only single,chunked,dask] [--keep DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lake_equal

from tvs_pipeline.defs.backfill import BACKFILL_PATH, run_chunked_backfill
from tvs_pipeline.defs.runner import dagster_yaml, prepare_instance, run_job
from tvs_pipeline.parallel import local_cluster
from tvs_pipeline.settings import load_settings


def load() -> str:
    """The machine's load average (1, 5, 15 min), printed with each timing: others share it."""
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def single(home: Path, first: str, last: str, workers: int, scheduler: str = "") -> float:
    """Both paths as one run each; the wall time."""
    settings = replace(
        load_settings({"TVS_HOME": str(home)}), workers=workers, dask_scheduler=scheduler
    )
    started = time.perf_counter()
    for job in ("nightly", "shadow"):
        began = time.perf_counter()
        outcome = run_job(settings, job, partition_range=(first, last))
        if not outcome.success:
            raise SystemExit(f"{home.name}: {job} failed at {outcome.failure}")
        print(f"  {home.name} {job}: {time.perf_counter() - began:.0f} s ({load()})", flush=True)
    return time.perf_counter() - started


def chunked_home_config(settings, concurrent: int) -> Path:
    """``$TVS_HOME/dagster`` with the dagster.yaml `tvs` writes, backfill limit ``concurrent``."""
    dagster_home = settings.dagster_home
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(dagster_yaml(dagster_home))
    for limit in config["concurrency"]["runs"]["tag_concurrency_limits"]:
        if limit["value"] == BACKFILL_PATH:
            limit["limit"] = concurrent
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return prepare_instance(settings)


def chunked(
    home: Path, first: str, last: str, chunk: int, concurrent: int, workers: int
) -> tuple[float, list]:
    """Both paths as asset backfills of ``chunk``-day runs; the wall time and the runs.

    The chunks' runs are tagged with ``workers // concurrent`` processes each, the runs in
    order with ``workers`` (`run_chunked_backfill`).
    """
    settings = replace(load_settings({"TVS_HOME": str(home)}), workers=workers)
    dagster_home = chunked_home_config(settings, concurrent)
    started = time.perf_counter()
    outcomes = run_chunked_backfill(settings, first, last, chunk, report=lambda line: None)
    wall = time.perf_counter() - started

    runs = []
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for record in instance.get_run_records(filters=dg.RunsFilter(job_name="bars_sync")):
            runs.append((f"bars_sync {first}..{last}", record.start_time, record.end_time))
        for outcome in outcomes:
            ids = [run_id for run_id, _, _ in outcome.runs]
            for record in instance.get_run_records(filters=dg.RunsFilter(run_ids=ids)):
                span = next(s for r, _, s in outcome.runs if r == record.dagster_run.run_id)
                runs.append((span, record.start_time, record.end_time))
    return wall, runs


def compare(before: Path, after: Path) -> int:
    """Partitions that differ between two lakes, ``report_path`` aside (a tear sheet per run)."""
    old, new = lake_equal.partition_files(before), lake_equal.partition_files(after)
    problems = [f"only in one lake: {key}" for key in sorted(old.keys() ^ new.keys())]
    for key in sorted(old.keys() & new.keys()):
        a = lake_equal._rooted(pd.read_parquet(old[key]), before)
        b = lake_equal._rooted(pd.read_parquet(new[key]), after)
        if "report_path" in a:
            a, b = a.drop(columns="report_path"), b.drop(columns="report_path")
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        except AssertionError as err:
            problems.append(f"{key}: {str(err).splitlines()[0]}")
    for line in problems:
        print("  DIFF", line)
    return len(problems)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=500)
    parser.add_argument("--end", default="2026-06-30")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrent", type=int, default=2)
    parser.add_argument("--only", default="single,chunked,dask")
    parser.add_argument("--keep", type=Path, default=None, help="build the homes here")
    parser.add_argument(
        "--single-seconds",
        type=float,
        default=0.0,
        help="the wall of a single run measured before in --keep's 'single' home (with "
        "--only chunked,dask: compared with it and its lake)",
    )
    args = parser.parse_args()
    end = date.fromisoformat(args.end)
    first, last = (end - timedelta(days=args.days - 1)).isoformat(), end.isoformat()
    chunk = math.ceil(args.days / 4)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    only = set(args.only.split(","))
    print(f"{args.days} days {first}..{last}, both paths; homes under {root} ({load()})")
    walls: dict[str, float] = {}
    if args.single_seconds and "single" not in only:
        walls["single"] = args.single_seconds
    if "single" in only:
        walls["single"] = single(root / "single", first, last, args.workers)
        print(
            f"single run per path, {args.workers} local workers: {walls['single']:.0f} s "
            f"({load()})",
            flush=True,
        )
    if "chunked" in only:
        walls["chunked"], runs = chunked(
            root / "chunked", first, last, chunk, args.concurrent, args.workers
        )
        print(
            f"bars sync, 4 chunks of {chunk} days, runs in day order; {args.concurrent} runs "
            "at once (daemon): "
            f"{walls['chunked']:.0f} s ({load()})",
            flush=True,
        )
        busy = 0.0
        for span, start, stop in sorted(runs, key=lambda r: r[1]):
            busy += stop - start
            print(f"  run {span}: {stop - start:.0f} s")
        print(f"  {len(runs)} runs, summed run time {busy:.0f} s")
        if "single" in walls:
            # The runs' summed time beyond the single runs' is what chunking adds: each run's
            # start-up (a process, imports, definitions), its history windows read again,
            # and per-partition events; spread over the runs and over the partitions. The
            # wall beyond the single run's adds the waits between runs (daemon, queue).
            extra = busy - walls["single"]
            wall_extra = walls["chunked"] - walls["single"]
            print(
                f"  Dagster overhead: summed run time {extra:+.0f} s ({extra / len(runs):+.1f} s "
                f"per run, {extra / (2 * args.days):+.3f} s per day and path); wall "
                f"{wall_extra:+.0f} s ({wall_extra / (2 * args.days):+.3f} s per day and path)",
                flush=True,
            )
    if "dask" in only:
        with local_cluster(args.workers) as address:
            walls["dask"] = single(root / "dask", first, last, 1, address)
        print(
            f"single run per path, Dask LocalCluster of {args.workers}: {walls['dask']:.0f} s "
            f"({load()})",
            flush=True,
        )
    if "single" in walls:
        for name in ("chunked", "dask"):
            if name in walls:
                extra = walls[name] - walls["single"]
                print(
                    f"{name}: {extra / walls['single']:+.1%} against the single run "
                    f"(target <= +15 %), {extra / (2 * args.days):+.3f} s per day and path",
                    flush=True,
                )
                differences = compare(root / "single", root / name)
                print(f"{name}: {'lake equal' if not differences else 'LAKES DIFFER'}", flush=True)


if __name__ == "__main__":
    main()
