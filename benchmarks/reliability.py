"""Reliability trials of issue 18: kill -9 in backfills, a reader beside a run, a full disk, a flip.

Every trial drives the real CLI (``python -m tvs_pipeline.cli``, this checkout first on
``PYTHONPATH``) in its own ``TVS_HOME`` under one temporary folder, and compares what it left
with a reference backfill partition by partition, frame by frame: a partition is hashed with
`tvs_pipeline.lake.ledger.frame_hash` after sorting its columns and writing the home's path as
``$TVS_HOME`` (file bytes are not compared), once as read and once after ``convert_dtypes()``.
A partition whose values differ is lost; one equal in values only (a column of bools stored as
``object`` by a range run, ``boolean`` by a single-day run) is noted, and counted as lost with
``--strict-dtypes``.

1. reference: ``tvs backfill --start --end`` in a fresh home.
2. kill (``--kills`` trials): in a fresh home the same backfill in its own session, its process
   group killed with SIGKILL after a delay drawn uniformly within the reference's wall time
   (``--seed``), then the backfill rerun to completion. Checked: no file but
   ``<asset>/date=D/part.parquet`` in the lake (the writers' ``.part-<hex>.tmp``), every
   partition readable and frame-equal to the reference, no run left live in the instance, and
   ``tvs ledger verify --lake`` exits 0 *without* ``tvs ledger repair`` first (docs/runbook.md:
   "After a crash (a kill -9, a full disk mid-write): nothing to do before the next run").
3. reader: ``tvs sql "select count(*) from bars"`` in a loop (``--max-queries``) while
   ``tvs run --date`` of the day after the range runs in a copy of the reference home; the run
   and every query must succeed, then the lake verify.
4. tmpfs (root only; each entry of ``--tmpfs-slack-kb``): a copy of the reference home on a
   tmpfs with ``KB`` free (``lake:KB``: only its lake there, through ``TVS_LAKE``); ``tvs run``
   of the next day must fail with exactly one ``tvs: error:`` line naming a path on the tmpfs,
   leave no temporary file in the lake, and leave a ledger that verifies (or that
   ``tvs ledger repair`` repairs once space is back). The tmpfs is then grown and the day rerun:
   the run must succeed, the lake verify, and every partition equal the reference (the next
   day's equal the reader trial's run of it).
5. flip (``--flips``): a copy of the reference home with the middle byte of one ``bars``
   partition inverted; ``tvs ledger verify --lake`` must fail naming the file, and ``tvs run``
   of the next day must fail with one line naming it (two detections per trial). The day is
   then rerun (``tvs run --date``): the lake must verify and equal the reference, except the
   ``report_path`` column (a single-day run draws its tear sheet for that day, a range run
   only for its last day).

Prints one line per trial, then a table: check | trials | failures | partitions lost (a
reference partition missing, unreadable or with other values at the end of the trial). Exits 1
on any failure. The defaults take about 10 minutes on 2 cores.

Usage (from the repository root):
    PYTHONPATH=. python benchmarks/reliability.py [--start 2026-06-01 --end 2026-06-08]
        [--scale 100] [--kills 10] [--seed 0] [--only kill,reader,tmpfs,flip] [--keep]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow.parquet as pq

from tvs_pipeline.lake.ledger import frame_hash

REPO = Path(__file__).resolve().parents[1]
CHECKS = ("kill", "reader", "tmpfs", "flip")
# Run statuses of a run that is not over (a killed run must not stay in one of them).
LIVE = ("NOT_STARTED", "QUEUED", "STARTING", "STARTED", "CANCELING")
PARTITION = re.compile(r"^[^/]+/date=\d{4}-\d{2}-\d{2}/part\.parquet$")
PAGE = 4096


@dataclass
class Tally:
    """One row of the summary."""

    trials: int = 0
    failures: int = 0
    lost: int = 0

    def add(self, ok: bool, lost: int = 0) -> None:
        self.trials += 1
        self.failures += 0 if ok else 1
        self.lost += lost


@dataclass
class Context:
    """What every trial needs: options, the work folder, the reference."""

    args: argparse.Namespace
    work: Path
    ref_home: Path
    reference: dict[str, str]
    ref_wall: float
    next_day: str
    next_ref: dict[str, str] | None = None  # the next day's partitions, from the reader's run
    dtype_only: dict[str, int] = field(default_factory=dict)  # per check: equal in values only

    def judge(self, check: str, lost: list[str], dtypes: list[str], problems: list[str]) -> str:
        """Add a comparison's findings to ``problems``; the note for the trial line."""
        if lost:
            problems.append(f"{len(lost)} partitions lost: {', '.join(lost[:3])}")
        self.dtype_only[check] = self.dtype_only.get(check, 0) + len(dtypes)
        if dtypes and self.args.strict_dtypes:
            problems.append(f"{len(dtypes)} partitions differ in dtypes: {', '.join(dtypes[:3])}")
        return dtype_note(dtypes)


# ------------------------------------------------------------------------------- the CLI


def tvs_env(home: Path, lake: Path | None = None) -> dict[str, str]:
    """The environment of a ``tvs`` child: this checkout first, ``TVS_HOME`` (and ``TVS_LAKE``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVS_")}
    env.pop("DAGSTER_HOME", None)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + path if path else "")
    env["TVS_HOME"] = str(home)
    if lake is not None:
        env["TVS_LAKE"] = str(lake)
    return env


@dataclass
class Child:
    """A ``tvs`` started in its own session, its output in temporary files (never a full pipe)."""

    proc: subprocess.Popen[bytes]
    out: IO[bytes]
    err: IO[bytes]


def start_tvs(home: Path, *args: str, lake: Path | None = None) -> Child:
    """``tvs ARGS`` in its own session (so its whole process group can be killed)."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tvs_pipeline.cli", *args],
        env=tvs_env(home, lake),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        start_new_session=True,
    )
    return Child(proc, out, err)


def finish(child: Child, timeout: float) -> subprocess.CompletedProcess[str]:
    """Wait for a started ``tvs``; past ``timeout`` its group is killed (exit -9)."""
    note = ""
    try:
        child.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(child.proc)
        note = f"\nreliability: killed after the {timeout:.0f} s timeout"
    texts = []
    for handle in (child.out, child.err):
        handle.seek(0)
        texts.append(handle.read().decode(errors="replace"))
        handle.close()
    return subprocess.CompletedProcess(
        child.proc.args, child.proc.returncode, texts[0], texts[1] + note
    )


def tvs(
    home: Path, *args: str, timeout: float = 900, lake: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tvs ARGS`` to completion in ``home`` (with its lake at ``lake`` if given)."""
    return finish(start_tvs(home, *args, lake=lake), timeout)


def kill_group(proc: subprocess.Popen[bytes]) -> list[int]:
    """SIGKILL the process group of ``proc``; the members still running 10 s later."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    deadline = time.monotonic() + 10
    while (members := group_members(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return members


def group_members(pgid: int) -> list[int]:
    """Pids of the processes of group ``pgid`` that are not zombies."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def error_lines(stderr: str) -> list[str]:
    """The ``tvs: error:`` lines of a run's stderr."""
    return [line for line in stderr.splitlines() if line.startswith("tvs: error:")]


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    """The error line of a failed ``tvs``, else its last line of output."""
    errors = error_lines(done.stderr)
    if errors:
        return errors[-1]
    lines = (done.stderr.strip() or done.stdout.strip()).splitlines()
    return lines[-1] if lines else "(no output)"


def one_line_failure(done: subprocess.CompletedProcess[str], names: str) -> str | None:
    """Why a run that had to fail did not fail with one line naming ``names``; None if it did."""
    errors = error_lines(done.stderr)
    if done.returncode == 0:
        return "exit 0 (expected a failure)"
    if "Traceback" in done.stderr:
        return f"exit {done.returncode} with a traceback"
    if len(errors) != 1:
        return f"exit {done.returncode} with {len(errors)} 'tvs: error:' lines"
    if names not in errors[0]:
        return f"error line does not name {names}: {errors[0][:200]}"
    return None


# ------------------------------------------------------------------------------ the lake


def partition_files(lake: Path) -> dict[str, Path]:
    """Every partition file of a lake, keyed by ``asset/date=D``."""
    return {str(p.parent.relative_to(lake)): p for p in sorted(lake.glob("*/date=*/part.parquet"))}


def stray_files(lake: Path) -> list[str]:
    """Files of the lake that are not partition files (a writer's temporary file, a leftover)."""
    if not lake.exists():
        return []
    found = (str(p.relative_to(lake)) for p in lake.rglob("*") if not p.is_dir())
    return sorted(name for name in found if not PARTITION.match(name))


def rooted(frame: pd.DataFrame, homes: tuple[str, ...]) -> pd.DataFrame:
    """Text cells with a home's path written as ``$TVS_HOME`` (report paths name the home).

    ``homes`` holds the home and, for a copied home, the one it was copied from: its files
    still name the original.
    """

    def root(value: object) -> object:
        if not isinstance(value, str):
            return value
        for home in homes:
            value = value.replace(home, "$TVS_HOME")
        return value

    out = frame
    for column in frame.columns:
        values = frame[column]
        if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
            continue
        if not values.map(lambda v: isinstance(v, str) and any(h in v for h in homes)).any():
            continue
        if out is frame:
            out = frame.copy()
        out[column] = values.map(root)
    return out


def canonical_hashes(path: Path, homes: tuple[str, ...], drop: tuple[str, ...] = ()) -> str:
    """Two content hashes of a partition file, ``"<exact> <values>"``.

    Both with the columns sorted, the homes rooted and ``drop`` left out; ``exact`` is
    `frame_hash` of the frame as read (dtypes included), ``values`` that of
    ``frame.convert_dtypes()``, so a column of bools stored as ``object`` in one file and as
    ``boolean`` in another hashes the same there.
    """
    frame = pq.read_table(path).to_pandas()
    frame = frame.drop(columns=[c for c in drop if c in frame.columns])
    frame = rooted(frame[sorted(frame.columns, key=str)], homes)
    return f"{frame_hash(frame)} {frame_hash(frame.convert_dtypes())}"


def snapshot(
    home: Path, drop: tuple[str, ...] = (), origin: Path | None = None, lake: Path | None = None
) -> dict[str, str]:
    """Hashes of every partition of a home's lake (``unreadable: ...`` if it fails).

    ``origin``: the home this one was copied from; ``lake``: the lake when not in the home.
    """
    homes = tuple(str(h) for h in (home, origin) if h is not None)
    shots = {}
    for key, path in partition_files(lake or home / "lake").items():
        try:
            shots[key] = canonical_hashes(path, homes, drop)
        except Exception as err:  # an unreadable partition is a finding, not a crash
            shots[key] = f"unreadable: {type(err).__name__}: {str(err).splitlines()[0][:120]}"
    return shots


def compare(reference: dict[str, str], found: dict[str, str]) -> tuple[list[str], list[str]]:
    """Reference partitions lost in ``found`` (missing, unreadable, other values), and those
    whose values are equal but whose dtypes or column order differ."""
    lost, dtypes = [], []
    for key, digests in reference.items():
        got = found.get(key)
        if got is None:
            lost.append(f"{key} missing")
        elif got.startswith("unreadable"):
            lost.append(f"{key} {got}")
        elif got.split()[1] != digests.split()[1]:
            lost.append(f"{key} differs")
        elif got != digests:
            dtypes.append(key)
    return lost, dtypes


def dtype_note(dtypes: list[str]) -> str:
    """The partitions equal in values only, as a short note for a trial line."""
    if not dtypes:
        return ""
    assets = sorted({key.split("/")[0] for key in dtypes})
    return f" · {len(dtypes)} equal in values, not in dtypes ({', '.join(assets)})"


def live_runs(home: Path) -> int | None:
    """Runs of the home's Dagster instance not over (None without a SQLite run storage)."""
    found = sorted((home / "dagster").rglob("runs.db"))
    if not found:
        return None
    marks = ",".join("?" * len(LIVE))
    with closing(sqlite3.connect(f"file:{found[0]}?mode=ro", uri=True)) as db:
        query = f"select count(*) from runs where status in ({marks})"
        return int(db.execute(query, LIVE).fetchone()[0])


def verify_lake(home: Path, lake: Path | None = None) -> tuple[bool, str]:
    """``tvs ledger verify --lake``: whether it exits 0, and else its first problem line."""
    done = tvs(home, "ledger", "verify", "--lake", timeout=300, lake=lake)
    if done.returncode == 0:
        return True, ""
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    skip = ("ledger ok", "repair at record", "lake:")
    useful = [line for line in lines if not line.startswith(skip)] or lines or ["(no output)"]
    return False, useful[0][:240]


def tmpfs_bytes(home: Path) -> int:
    """What a copy of ``home`` takes on a tmpfs: each file rounded up to whole pages."""
    total = 0
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += -(-path.stat().st_size // PAGE) * PAGE
    return total


def say(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------------- the checks


def reference(args: argparse.Namespace, work: Path) -> tuple[Path, dict[str, str], float]:
    """The reference backfill: its home, the hash of every partition, its wall time."""
    home = work / "ref"
    started = time.monotonic()
    done = tvs(home, "backfill", *range_args(args), timeout=args.timeout)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"reference backfill failed (exit {done.returncode}): {last_line(done)}")
    ok, problem = verify_lake(home)
    if not ok:
        raise SystemExit(f"reference lake does not verify: {problem}")
    shots = snapshot(home)
    bad = [key for key, digest in shots.items() if digest.startswith("unreadable")]
    if bad:
        raise SystemExit(f"reference has unreadable partitions: {bad[:3]}")
    assets = len({key.split("/")[0] for key in shots})
    say(
        f"reference: {args.start}..{args.end} scale {args.scale} in {wall:.1f} s, "
        f"{len(shots)} partitions of {assets} assets, lake verified"
    )
    return home, shots, wall


def range_args(args: argparse.Namespace) -> list[str]:
    return ["--start", args.start, "--end", args.end, "--scale", str(args.scale)]


def kill_trial(ctx: Context, number: int, delay: float) -> tuple[bool, int]:
    """Kill a backfill at ``delay`` s, rerun it, check the lake; (ok, partitions lost)."""
    args, home = ctx.args, ctx.work / f"kill{number:02d}"
    child = start_tvs(home, "backfill", *range_args(args))
    try:
        child.proc.wait(timeout=delay)
        when = f"finished before the kill at {delay:.1f}s (exit {child.proc.returncode})"
        survivors: list[int] = []
    except subprocess.TimeoutExpired:
        survivors = kill_group(child.proc)
        when = f"SIGKILL at {delay:5.1f}s"
    finish(child, 60)
    torn = tvs(home, "ledger", "verify", timeout=120)
    after_kill = (torn.stdout.strip().splitlines() or [last_line(torn)])[0].split(":")[0]
    started = time.monotonic()
    rerun = tvs(home, "backfill", *range_args(args), timeout=args.timeout)
    took = time.monotonic() - started
    marked = rerun.stderr.count("marked FAILED")
    problems = []
    if survivors:
        problems.append(f"{len(survivors)} processes survived the kill")
    if rerun.returncode != 0:
        problems.append(f"rerun exit {rerun.returncode}: {last_line(rerun)}")
    stray = stray_files(home / "lake")
    if stray:
        problems.append(f"{len(stray)} stray files in the lake: {', '.join(stray[:3])}")
    verified, why = verify_lake(home)
    if not verified:
        repaired = tvs(home, "ledger", "repair", timeout=300)
        again, _ = verify_lake(home)
        problems.append(
            f"verify --lake failed: {why} (after `tvs ledger repair` (exit "
            f"{repaired.returncode}): {'ok' if again else 'still failing'})"
        )
    live = live_runs(home)
    if live:
        problems.append(f"{live} runs left live in the instance")
    found = snapshot(home)
    lost, dtypes = compare(ctx.reference, found)
    note = ctx.judge("kill", lost, dtypes, problems)
    extra = sorted(found.keys() - ctx.reference.keys())
    if extra:
        problems.append(f"{len(extra)} partitions not in the reference: {', '.join(extra[:3])}")
    equal = len(ctx.reference) - len(lost)
    say(
        f"kill {number:2d}/{args.kills}: {when} · after kill: {after_kill} · rerun "
        f"{took:.0f}s ({marked} orphan runs failed) · stray {len(stray)} · verify --lake "
        f"{'ok' if verified else 'FAILED'} · live runs {live} · {equal}/{len(ctx.reference)} "
        f"equal{note} · {'ok' if not problems else 'FAIL: ' + '; '.join(problems)}"
    )
    return not problems, len(lost)


def reader_trial(ctx: Context, runs: Tally, queries: Tally) -> None:
    """``tvs sql`` in a loop beside ``tvs run --date`` of the next day in a copy of the ref."""
    args = ctx.args
    home = ctx.work / "reader"
    shutil.copytree(ctx.ref_home, home, symlinks=True)
    started = time.monotonic()
    child = start_tvs(home, "run", "--date", ctx.next_day, "--scale", str(args.scale))
    asked = failed = 0
    counts: list[int] = []
    first_error = ""
    while child.proc.poll() is None and asked < args.max_queries:
        done = tvs(home, "sql", "select count(*) as n from bars", timeout=120)
        asked += 1
        if done.returncode != 0:
            failed += 1
            first_error = first_error or last_line(done)
            continue
        words = done.stdout.split()
        counts.append(int(words[-1]) if words and words[-1].isdigit() else -1)
    run = finish(child, args.timeout)
    took = time.monotonic() - started
    problems = []
    if run.returncode != 0:
        problems.append(f"run exit {run.returncode}: {last_line(run)}")
    verified, why = verify_lake(home)
    if not verified:
        problems.append(f"verify --lake failed: {why}")
    found = snapshot(home, origin=ctx.ref_home)
    lost, dtypes = compare(ctx.reference, found)
    note = ctx.judge("reader", lost, dtypes, problems)
    if run.returncode == 0:
        ctx.next_ref = {k: v for k, v in found.items() if k.endswith(f"date={ctx.next_day}")}
    seen = f"{min(counts)}..{max(counts)}" if counts else "none"
    say(
        f"reader: run {ctx.next_day} exit {run.returncode} in {took:.0f}s beside {asked} "
        f"queries ({failed} failed{': ' + first_error if first_error else ''}; bars rows "
        f"{seen}) · verify --lake {'ok' if verified else 'FAILED'} · "
        f"{len(ctx.reference) - len(lost)}/{len(ctx.reference)} equal{note} · "
        f"{'ok' if not problems else 'FAIL: ' + '; '.join(problems)}"
    )
    runs.add(not problems, len(lost))
    queries.trials += asked
    queries.failures += failed


def tmpfs_trial(ctx: Context, number: int, spec: str) -> tuple[bool, int] | None:
    """A run of the next day on a full tmpfs, then with space back; None if it cannot mount.

    ``spec`` is ``KB`` (a copy of the reference home on a tmpfs with KB free) or ``lake:KB``
    (the home on disk, only its lake on the tmpfs, through ``TVS_LAKE``).
    """
    where, _, text = spec.rpartition(":")
    where, slack_kb = where or "home", int(text)
    mount = ctx.work / f"tmpfs{number}"
    mount.mkdir()
    copied = ctx.ref_home / "lake" if where == "lake" else ctx.ref_home
    size_kb = tmpfs_bytes(copied) // 1024 + slack_kb
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        say(f"tmpfs {number}: skipped: mount failed: {made.stderr.strip()[:160]}")
        return None
    try:
        if where == "lake":
            home, lake = ctx.work / f"tmpfs{number}-home", mount / "lake"
            shutil.copytree(
                ctx.ref_home, home, symlinks=True, ignore=shutil.ignore_patterns("lake")
            )
            shutil.copytree(ctx.ref_home / "lake", lake, symlinks=True)
        else:
            home, lake = mount / "home", None
            shutil.copytree(ctx.ref_home, home, symlinks=True)
        return _on_tmpfs(
            ctx, number, f"{where} with {slack_kb} KB free", mount, size_kb, home, lake
        )
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)
        mount.rmdir()


def _on_tmpfs(
    ctx: Context, number: int, label: str, mount: Path, size_kb: int, home: Path, lake: Path | None
) -> tuple[bool, int]:
    args = ctx.args
    lake_dir = lake or home / "lake"
    day = ("run", "--date", ctx.next_day, "--scale", str(args.scale))
    problems = []
    full = tvs(home, *day, lake=lake)
    why = one_line_failure(full, str(mount))
    if why:
        problems.append(f"full-disk run: {why}")
    stray = stray_files(lake_dir)
    if stray:
        problems.append(f"{len(stray)} stray files in the lake: {', '.join(stray[:3])}")
    ledger = tvs(home, "ledger", "verify", timeout=120, lake=lake)
    grown = subprocess.run(
        ["mount", "-o", f"remount,size={size_kb + args.tmpfs_grow_mb * 1024}k", str(mount)],
        capture_output=True,
        text=True,
    )
    if grown.returncode != 0:
        problems.append(f"could not grow the tmpfs: {grown.stderr.strip()[:160]}")
    ledger_state = "ok"
    if ledger.returncode != 0:
        repaired = tvs(home, "ledger", "repair", timeout=300, lake=lake)
        again = tvs(home, "ledger", "verify", timeout=120, lake=lake)
        ledger_state = f"repaired (exit {repaired.returncode})"
        if again.returncode != 0:
            ledger_state = "NOT repairable"
            problems.append(f"ledger after the full disk: {last_line(again)}")
    rerun = tvs(home, *day, lake=lake)
    if rerun.returncode != 0:
        problems.append(f"rerun with space exit {rerun.returncode}: {last_line(rerun)}")
    verified, lake_why = verify_lake(home, lake)
    if not verified:
        problems.append(f"verify --lake failed: {lake_why}")
    stray = stray_files(lake_dir)
    if stray:
        problems.append(f"{len(stray)} stray files after the rerun: {', '.join(stray[:3])}")
    expected = ctx.reference | (ctx.next_ref or {})
    lost, dtypes = compare(expected, snapshot(home, origin=ctx.ref_home, lake=lake))
    note = ctx.judge("tmpfs", lost, dtypes, problems)
    message = error_lines(full.stderr)[-1:] or [last_line(full)]
    shown = message[0].replace(str(mount), "$TMPFS")[:150]
    say(
        f"tmpfs {number}: {label} · run exit {full.returncode}: {shown} · stray "
        f"{len(stray)} · ledger {ledger_state} · rerun exit {rerun.returncode} · verify --lake "
        f"{'ok' if verified else 'FAILED'} · {len(expected) - len(lost)}/{len(expected)} equal"
        f"{note} · {'ok' if not problems else 'FAIL: ' + '; '.join(problems)}"
    )
    return not problems, len(lost)


def flip_trial(ctx: Context, number: int, day: str) -> tuple[bool, int, int]:
    """Flip a byte of ``bars`` of ``day`` in a copy of the ref; (ok, lost, detections)."""
    args, home = ctx.args, ctx.work / f"flip{number}"
    shutil.copytree(ctx.ref_home, home, symlinks=True)
    relative = f"bars/date={day}/part.parquet"
    path = home / "lake" / relative
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    problems, detections = [], 0
    verify = tvs(home, "ledger", "verify", "--lake", timeout=300)
    if verify.returncode != 0 and relative in verify.stdout:
        detections += 1
    else:
        problems.append(f"verify --lake exit {verify.returncode} without naming {relative}")
    run = tvs(home, "run", "--date", ctx.next_day, "--scale", str(args.scale))
    why = one_line_failure(run, relative)
    if why is None:
        detections += 1
    else:
        problems.append(f"run {ctx.next_day}: {why}")
    shown = last_line(run).replace(str(home), "$TVS_HOME")[:150]
    redo = tvs(home, "run", "--date", day, "--scale", str(args.scale))
    if redo.returncode != 0:
        problems.append(f"rerun of {day} exit {redo.returncode}: {last_line(redo)}")
    verified, lake_why = verify_lake(home)
    if not verified:
        problems.append(f"verify --lake after the rerun failed: {lake_why}")
    drop = ("report_path",)
    expected = snapshot(ctx.ref_home, drop)
    lost, dtypes = compare(expected, snapshot(home, drop, origin=ctx.ref_home))
    note = ctx.judge("flip", lost, dtypes, problems)
    say(
        f"flip {number}: byte {len(data) // 2} of {len(data)} in {relative} · detected "
        f"{detections}/2 (run: {shown}) · rerun {day} exit {redo.returncode} · verify --lake "
        f"{'ok' if verified else 'FAILED'} · {len(expected) - len(lost)}/{len(expected)} equal"
        f"{note} · {'ok' if not problems else 'FAIL: ' + '; '.join(problems)}"
    )
    return not problems, len(lost), detections


# ------------------------------------------------------------------------------- the run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2026-06-01", help="first day of the backfills")
    parser.add_argument("--end", default="2026-06-08", help="last day of the backfills")
    parser.add_argument("--scale", type=int, default=100, help="demo listings (at least 100)")
    parser.add_argument("--kills", type=int, default=10, help="kill -9 trials")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill delays and flips")
    parser.add_argument(
        "--max-queries", type=int, default=200, help="bound of the reader's query loop"
    )
    parser.add_argument(
        "--tmpfs-slack-kb",
        default="256,2048,lake:64",
        help="tmpfs trials, comma-separated: KB free with the home on the tmpfs, or lake:KB "
        "with only the lake there",
    )
    parser.add_argument(
        "--tmpfs-grow-mb", type=int, default=256, help="space given back after the full run"
    )
    parser.add_argument("--flips", type=int, default=1, help="byte-flip trials")
    parser.add_argument(
        "--strict-dtypes",
        action="store_true",
        help="count a partition equal in values but not in dtypes as lost (default: noted)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds one backfill or run may take"
    )
    parser.add_argument("--only", default=",".join(CHECKS), help="checks to run")
    parser.add_argument("--workdir", default=None, help="parent of the temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the homes")
    args = parser.parse_args(argv)
    args.only = [c for c in args.only.split(",") if c]
    unknown = sorted(set(args.only) - set(CHECKS))
    if unknown:
        parser.error(f"--only: unknown checks {unknown} (known: {', '.join(CHECKS)})")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="tvs-reliability-", dir=args.workdir))
    next_day = (date.fromisoformat(args.end) + timedelta(days=1)).isoformat()
    say(f"work folder {work}; python {sys.executable}; checkout {REPO}")
    rows: dict[str, Tally] = {}
    ctx: Context | None = None
    try:
        ref_home, shots, wall = reference(args, work)
        ctx = Context(args, work, ref_home, shots, wall, next_day)
        if "kill" in args.only:
            tally = rows.setdefault("kill -9 during backfill", Tally())
            for number in range(1, args.kills + 1):
                ok, lost = kill_trial(ctx, number, rng.uniform(0, wall))
                tally.add(ok, lost)
                if not args.keep:
                    shutil.rmtree(work / f"kill{number:02d}", ignore_errors=True)
        if "reader" in args.only:
            runs = rows.setdefault("reader: run beside sql", Tally())
            queries = rows.setdefault("reader: sql queries", Tally())
            reader_trial(ctx, runs, queries)
        if "tmpfs" in args.only:
            slacks = [s for s in args.tmpfs_slack_kb.split(",") if s]
            if os.geteuid() != 0:
                say("tmpfs: skipped: needs root")
            else:
                tally = Tally()
                for number, slack in enumerate(slacks, 1):
                    result = tmpfs_trial(ctx, number, slack)
                    if result is not None:
                        tally.add(*result)
                if tally.trials:
                    rows["tmpfs full run"] = tally
        if "flip" in args.only:
            tally = rows.setdefault("byte flip in bars", Tally())
            days = sorted({k.split("=")[1].split("/")[0] for k in shots if k.startswith("bars/")})
            found = 0
            for number in range(1, args.flips + 1):
                ok, lost, detections = flip_trial(ctx, number, rng.choice(days))
                tally.add(ok, lost)
                found += detections
            say(f"flip: {found}/{2 * args.flips} detections")
    finally:
        if args.keep:
            say(f"homes kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    say("")
    say(f"{'check':<26} {'trials':>7} {'failures':>9} {'partitions lost':>16}")
    for name, tally in rows.items():
        say(f"{name:<26} {tally.trials:>7} {tally.failures:>9} {tally.lost:>16}")
    dtype_only = sum(ctx.dtype_only.values()) if ctx is not None else 0
    if dtype_only and not args.strict_dtypes:
        say(
            f"note: {dtype_only} partitions equal the reference in values but not in dtypes "
            "or column order (not counted; --strict-dtypes counts them)"
        )
    failed = sum(t.failures for t in rows.values())
    lost = sum(t.lost for t in rows.values())
    say(
        f"{'all' if not failed and not lost else 'FAILED'}: {failed} failures, {lost} "
        f"partitions lost, {time.monotonic() - began:.0f} s"
    )
    return 1 if failed or lost else 0


if __name__ == "__main__":
    sys.exit(main())
