"""What custody costs over a 500-day lake: the chain, the index, verify --lake, a backfill's checks.

Reads a home a backfill left (`bench_backfill.py --home DIR`; its lake is only read, the
ledger is copied) or builds a synthetic one (``--synthetic DIR``: 19 assets x ``--days`` days
of Parquet files of the sizes a demo backfill writes, one output record per asset). Prints:

- ``tvs ledger verify``: the chain re-walked;
- the index built from the ledger, and its size;
- ``tvs ledger verify --lake --rehash`` (every file hashed) and ``--lake`` (stamps cached);
- a backfill's custody replayed on a fresh ledger in the home's record order: per step the
  checks of its loaded inputs and of the windows it reads directly (as the IO manager does),
  then per output its ``write`` record, its ``output`` record and the stamps of its files;
- the write path on a sample of days: the staged write (serialise, hash the bytes, rename)
  against the former one (write, then read the file back to hash it).

The sum is set against the issue's budget: 5 % of a 500-day backfill (~600 s).
Usage: python benchmarks/bench_ledger.py --home DIR [--sample-days 50]
       python benchmarks/bench_ledger.py --synthetic DIR [--days 500]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from tvs_pipeline.lake.custody import LakeCustody, index_path
from tvs_pipeline.lake.io_manager import _commit, _discard, _stage
from tvs_pipeline.lake.ledger import append_record, file_digest, read_records, verify_ledger
from tvs_pipeline.lake.storage import partition_path, read_partition, write_parquet_atomic

BACKFILL_SECONDS = 600.0  # a 500-day backfill of both paths (issue 18)
BUDGET = 0.05
# Mean partition file size (bytes) per asset of a 500-day demo backfill (/tmp/bf500).
ASSET_BYTES = {
    "discovery": 34857, "bars": 43058, "fetch_failures": 5570, "data_health": 18728,
    "enrichment": 34856, "normalization": 426284, "dedup": 18464, "market": 10845,
    "selection": 53890, "synthesis": 84269, "allocation": 29030, "simulation": 14049,
    "performance_report": 6774, "selection_challenger": 53864, "synthesis_challenger": 84269,
    "allocation_challenger": 29030, "selection_parity": 14641, "simulation_challenger": 14049,
    "promotion_report": 9301,
}  # fmt: skip


def timed(label: str, function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    elapsed = time.perf_counter() - started
    print(f"  {label:<44} {elapsed:8.2f} s")
    return result, elapsed


def build_synthetic(home: Path, days: int) -> None:
    """A lake of incompressible float frames of each asset's file size, one record each.

    As in a range run, each step loads every partition of the asset before it and reads the
    ``bars`` window directly.
    """
    lake, ledger = home / "lake", home / "ledger" / "audit.jsonl"
    keys = pd.date_range("2025-02-16", periods=days).strftime("%Y-%m-%d").tolist()
    rng = np.random.default_rng(0)
    previous: dict | None = None
    for asset, size in ASSET_BYTES.items():
        files = {}
        rows = max(1, size // 8)
        for key in keys:
            path = partition_path(str(lake), asset, key)
            write_parquet_atomic(pd.DataFrame({"v": rng.standard_normal(rows)}), path)
            files[key] = {"sha256": file_digest(path), "rows": rows}
        payload = {"run_id": "synthetic", "step": asset, "asset": asset, "files": files}
        intent = {
            "run_id": "synthetic",
            "step": asset,
            "asset": asset,
            "inputs": {"previous": previous} if previous else {},
            "reads": {} if asset in ("discovery", "bars") else {"bars": [keys[0], keys[-1]]},
        }
        append_record(ledger, "intent", intent)
        append_record(ledger, "output", payload)
        previous = {"asset": asset, "files": files}


def replay(records: list[dict], ledger: Path, root: str) -> tuple[dict[str, float], int, int]:
    """A backfill's custody on a fresh ledger: checks per intent, records and stamps per output."""
    custody = LakeCustody(ledger, root)
    spent = {"read checks": 0.0, "records (intent, write, output)": 0.0, "file stamps": 0.0}
    files = calls = 0
    for record in records:
        payload, kind = record["payload"], record["kind"]
        started = time.perf_counter()
        if kind == "intent":
            for loaded in payload.get("inputs", {}).values():
                files += len(custody.check(loaded["asset"], sorted(loaded["files"])))
                calls += 1
            for asset, window in (payload.get("reads") or {}).items():
                # A step's own past (bars, the D-1 books) is empty in a fresh backfill; the
                # final lake replayed here holds the files this very step is about to write.
                if window and asset != payload.get("asset"):
                    files += len(custody.check(asset, window=(window[0], window[1])))
                    calls += 1
            spent["read checks"] += time.perf_counter() - started
            started = time.perf_counter()
            append_record(ledger, "intent", payload)
            spent["records (intent, write, output)"] += time.perf_counter() - started
        elif kind == "output":
            custody.reconcile()
            host = {"host": socket.gethostname(), "pid": os.getpid()}
            keep = ("run_id", "step", "asset", "partitions", "files")
            append_record(ledger, "write", {k: payload.get(k) for k in keep} | host)
            append_record(ledger, "output", payload)
            spent["records (intent, write, output)"] += time.perf_counter() - started
            started = time.perf_counter()
            digests = {key: entry["sha256"] for key, entry in payload["files"].items()}
            custody.note_written(payload["asset"], digests)
            spent["file stamps"] += time.perf_counter() - started
        else:
            append_record(ledger, kind, payload)
            spent["records (intent, write, output)"] += time.perf_counter() - started
    return spent, files, calls


def last_day(records: list[dict]) -> list[dict]:
    """The records a nightly run of the last day would write: every ``files`` map cut to it."""
    day = max(key for r in records if r["kind"] == "output" for key in r["payload"]["files"])
    out = []
    for record in records:
        payload = dict(record["payload"])
        if record["kind"] == "output":
            payload["files"] = {day: payload["files"][day]} if day in payload["files"] else {}
        elif record["kind"] == "intent":
            payload["inputs"] = {
                name: {**loaded, "files": {k: v for k, v in loaded["files"].items() if k == day}}
                for name, loaded in payload.get("inputs", {}).items()
            }
        out.append({**record, "payload": payload})
    return out


# The one attribute of an output context `_stage` reads (to name a frame that is not one).
CONTEXT = SimpleNamespace(asset_key=SimpleNamespace(to_user_string=lambda: "bench"))


def write_paths(root: str, out: Path, days: int, rounds: int = 3) -> tuple[float, float, int]:
    """Seconds to rewrite ``days`` days of every asset the former way and the staged way.

    Each file is written both ways to targets of its own, in alternating order, ``rounds``
    times over (each way replaces its own previous file, as a rerun does).
    """
    frames = []
    for asset in sorted(os.listdir(root)):
        keys = sorted(os.listdir(os.path.join(root, asset)))[:days]
        for key in keys:
            frames.append(read_partition(os.path.join(root, asset, key, "part.parquet")))

    def former(frame: pd.DataFrame, path: str) -> None:
        """The IO manager's write before custody (its dump_to_path, then the file's digest)."""
        frame = frame.drop(columns=["date"], errors="ignore")
        frame.attrs = {}
        write_parquet_atomic(frame, path)
        file_digest(path)  # the output record read the file back to hash it

    def staged(frame: pd.DataFrame, path: str) -> None:
        stage = _stage(CONTEXT, frame, path)
        try:
            _commit(stage)
        finally:
            _discard(stage)

    spent = {former: 0.0, staged: 0.0}
    for turn in range(rounds):
        for index, frame in enumerate(frames):
            ways = (former, staged) if (index + turn) % 2 == 0 else (staged, former)
            for way in ways:
                path = str(out / way.__name__ / f"p{index}" / "part.parquet")
                started = time.perf_counter()
                way(frame, path)
                spent[way] += time.perf_counter() - started
    return spent[former] / rounds, spent[staged] / rounds, len(frames)


def main() -> None:
    parser = argparse.ArgumentParser()
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--home", help="a home a backfill left (TVS_HOME layout)")
    source.add_argument("--synthetic", help="build a synthetic home here")
    parser.add_argument("--days", type=int, default=500, help="days of the synthetic lake")
    parser.add_argument("--sample-days", type=int, default=50, help="days of the write test")
    args = parser.parse_args()
    if args.synthetic:
        home = Path(args.synthetic)
        if not (home / "ledger" / "audit.jsonl").exists():
            print(f"building a synthetic lake of {args.days} days in {home} ...")
            build_synthetic(home, args.days)
    else:
        home = Path(args.home)
    root = str(home / "lake")
    work = Path(tempfile.mkdtemp(prefix="bench_ledger_"))
    try:
        ledger = work / "ledger" / "audit.jsonl"
        ledger.parent.mkdir(parents=True)
        shutil.copy(home / "ledger" / "audit.jsonl", ledger)
        records = read_records(ledger)
        sizes = [p.stat().st_size for p in Path(root).rglob("part.parquet")]
        print(
            f"lake {root}: {len(sizes)} partition files, {sum(sizes) / 1e6:.0f} MB; ledger "
            f"{ledger.stat().st_size / 1e6:.1f} MB, {len(records)} records"
        )
        total = 0.0
        verdict, _ = timed("tvs ledger verify (the chain)", verify_ledger, ledger)
        assert verdict.ok, verdict
        custody = LakeCustody(ledger, root)
        _, _ = timed("index built from the ledger", custody.rebuild)
        print(f"    index {index_path(ledger).stat().st_size / 1e6:.2f} MB")
        lake, _ = timed("verify --lake --rehash (every file hashed)", custody.verify, rehash=True)
        print(f"    {str(lake).splitlines()[0]}")
        lake, _ = timed("verify --lake (stamps cached)", custody.verify)

        print("a backfill's custody, replayed on a fresh ledger (stamps cached):")
        fresh = work / "replay" / "audit.jsonl"
        fresh.parent.mkdir()
        shutil.copy(index_path(ledger), index_path(fresh))  # the stamps the writes left
        (spent, files, calls), elapsed = timed("replay", replay, records, fresh, root)
        for label, seconds in spent.items():
            print(f"    {label:<42} {seconds:8.2f} s")
        print(f"    {files} partition files checked in {calls} checks")
        total += elapsed
        nightly, _ = timed(
            "then one nightly day on top (same checks)", replay, last_day(records), fresh, root
        )
        print(f"    {nightly[1]} partition files checked in {nightly[2]} checks")

        print(f"the write path, {args.sample_days} days of every asset:")
        former, staged, count = write_paths(root, work / "writes", args.sample_days)
        scale = len(sizes) / count
        print(f"  former: write, then read back to hash   {former:8.2f} s ({count} files)")
        print(f"  staged: serialise, hash, write, rename  {staged:8.2f} s")
        extra = (staged - former) * scale
        print(f"  difference over {len(sizes)} files              {extra:+8.2f} s")
        total += max(extra, 0.0)
        share = total / BACKFILL_SECONDS
        print(
            f"custody's cost in a 500-day backfill: {total:.1f} s = {share:.1%} of "
            f"{BACKFILL_SECONDS:.0f} s (budget {BUDGET:.0%} = {BUDGET * BACKFILL_SECONDS:.0f} s)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
