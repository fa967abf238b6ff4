"""Chunked backfills: one asset backfill of K-day runs, executed by the instance's daemon.

With ``$TVS_CHUNK_DAYS`` = K the definitions give every daily asset
``BackfillPolicy.multi_run(K)`` (`chunk_policy`), so an asset backfill over a range runs as
runs of at most K days each. The daemon reads that policy from the code location it loads, so
K must be in the daemon's environment: `tvs backfill --chunk-days K` starts a daemon with it
when the instance has none running. The runs go through the instance's run queue
(``QueuedRunCoordinator``): its ``max_concurrent_runs`` and tag limits decide how many chunks
run at once; each chunk is a process of the default run launcher locally, a pod with
``K8sRunLauncher`` (deploy/). Chunks of day-independent assets run at the same time; an
asset whose day D reads an earlier day (``bars``, ``allocation``, ``simulation``: they
declare it, `carry.day_before`, `partitions.bars_window`) stays one run over the range,
which the chunks downstream of it wait for (`chunk_policy`).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import dagster as dg

# Dagster has no public Python call that submits an asset backfill: the UI's GraphQL
# mutation (launchPartitionBackfill) builds this same object and adds it to the instance.
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill

from tvs_pipeline.defs.shadow import CLI_LAUNCHED, LAUNCHER_TAG
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.settings import Settings

__all__ = [
    "BACKFILL_PATH",
    "PATH_TAG",
    "SYNC_ASSETS",
    "BackfillOutcome",
    "backfill_runs",
    "bars_sync_job",
    "chunk_policy",
    "daemon_env",
    "daemon_running",
    "follow_backfill",
    "run_chunked_backfill",
    "running_daemon",
    "sequential",
    "submit_backfill",
]

# The chunks carry tvs/path=backfill, not the path's own value: the instance's limit of one
# tvs/path=champion run guards nightly runs against each other and must not serialise the
# chunks of one backfill (dagster.yaml gives tvs/path=backfill its own limit).
PATH_TAG, BACKFILL_PATH = "tvs/path", "backfill"
BACKFILL_OF_TAG = "tvs/backfill_of"
BACKFILL_TAG = "dagster/backfill"
DONE = {
    BulkActionStatus.COMPLETED,
    BulkActionStatus.COMPLETED_SUCCESS,
    BulkActionStatus.COMPLETED_FAILED,
    BulkActionStatus.FAILED,
    BulkActionStatus.CANCELED,
}
# The first part of a chunked backfill, one run: bars plans day D from every bar stored
# before D (it reads a window of itself), so its days are sequential, and Dagster's asset
# backfill would give it a run per day. Discovery runs with it (bars reads its day).
SYNC_ASSETS = ["discovery", "bars", "fetch_failures"]
bars_sync_job = dg.define_asset_job(
    "bars_sync",
    selection=dg.AssetSelection.assets(*SYNC_ASSETS),
    executor_def=dg.in_process_executor,
    description=(
        "Discovery and the bars sync over a range as one run: the first part of a chunked "
        "backfill (`tvs backfill --chunk-days`), whose other stages run in chunks after it."
    ),
    tags={PATH_TAG: BACKFILL_PATH},
)
# A daemon that sent a heartbeat this recently is taken as running.
HEARTBEAT_SECONDS = 60
POLL_SECONDS = 2.0


def chunk_policy(
    assets: Sequence[dg.AssetsDefinition], chunk_days: int
) -> list[dg.AssetsDefinition]:
    """Each asset that backfills as one run, made to backfill in runs of ``chunk_days`` days.

    An asset whose day D reads an earlier day (`sequential`: ``bars`` its own past window,
    ``allocation`` its D−1 book, ``simulation`` its D−1 track record and the D−1 book) keeps
    its single run: its days are sequential whatever the split, and Dagster's asset backfill
    splits such assets badly (``bars`` one run per day; ``simulation`` chunks shifted by a day
    behind the book's, the last one reaching past the range). The day-independent assets are
    chunked and their chunks run at the same time. ``chunk_days`` 0 leaves the assets as they
    are (one run per backfill).
    """
    if chunk_days <= 0:
        return list(assets)
    single = dg.BackfillPolicy.single_run()
    policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=chunk_days)
    return [
        asset.with_attributes(backfill_policy=policy)
        if asset.backfill_policy == single and not sequential(asset)
        else asset
        for asset in assets
    ]


def sequential(asset: dg.AssetsDefinition) -> bool:
    """Whether the asset's day D reads a day before D (of itself or of another asset)."""
    for spec in asset.specs:
        for dep in spec.deps:
            mapping = dep.partition_mapping
            if isinstance(mapping, dg.TimeWindowPartitionMapping) and mapping.end_offset < 0:
                return True
    return False


@dataclass(frozen=True)
class BackfillOutcome:
    """How a backfill ended: its status and its runs (id, status, partition range)."""

    backfill_id: str
    status: str
    runs: tuple[tuple[str, str, str], ...]

    @property
    def success(self) -> bool:
        """Every run succeeded and the backfill completed."""
        return self.status in ("COMPLETED", "COMPLETED_SUCCESS") and all(
            status == "SUCCESS" for _, status, _ in self.runs
        )


def _backfill_id() -> str:
    """Eight lowercase letters, the form of the ids the UI gives backfills."""
    return "".join(random.choices(string.ascii_lowercase, k=8))


def submit_backfill(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    assets: Sequence[str],
    first: str,
    last: str,
    *,
    title: str,
    tags: dict[str, str] | None = None,
) -> str:
    """Add one asset backfill of ``assets`` over ``first..last`` to the instance; its id.

    The daemon runs it; the UI shows it under Backfills with its runs.
    """
    graph = defs.resolve_asset_graph()
    partitions = graph.get(dg.AssetKey(assets[0])).partitions_def
    keys = partitions.get_partition_keys_in_range(dg.PartitionKeyRange(first, last))
    # Each asset gets exactly these days. (Built from partition names and an asset selection,
    # the backfill also targets the days a selected asset reads from the last day of
    # another: simulation's day after the range, through its D-1 book.)
    target = AssetGraphSubset.from_asset_partition_set(
        {AssetKeyPartitionKey(dg.AssetKey(name), key) for name in assets for key in keys},
        graph,
    )
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=_backfill_id(),
        backfill_timestamp=time.time(),
        tags={PATH_TAG: BACKFILL_PATH, LAUNCHER_TAG: CLI_LAUNCHED, **(tags or {})},
        dynamic_partitions_store=instance,
        asset_graph_subset=target,
        title=title,
        description=f"{title}: {first}..{last}",
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill.backfill_id


def backfill_runs(instance: dg.DagsterInstance, backfill_id: str) -> list[dg.DagsterRun]:
    """The runs the daemon launched for a backfill, oldest first."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={BACKFILL_TAG: backfill_id}))
    return list(reversed(runs))  # the instance lists the newest first


def _describe(run: dg.DagsterRun) -> str:
    tags = run.tags
    first = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition", "")
    last = tags.get("dagster/asset_partition_range_end") or first
    return f"{first}..{last}" if first != last else first


def follow_backfill(
    instance: dg.DagsterInstance,
    backfill_id: str,
    *,
    report: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    timeout: float | None = None,
    poll: float = POLL_SECONDS,
) -> BackfillOutcome:
    """Wait for a backfill to end, reporting each change of its runs; how it ended.

    Raises
    ------
    ConfigError
        The backfill is not in the instance, or did not end within ``timeout`` seconds.
    """
    started, last_line = time.monotonic(), ""
    while True:
        backfill = instance.get_backfill(backfill_id)
        if backfill is None:
            raise ConfigError(f"backfill {backfill_id}: not in the instance")
        runs = backfill_runs(instance, backfill_id)
        counts: dict[str, int] = {}
        for run in runs:
            counts[run.status.value] = counts.get(run.status.value, 0) + 1
        states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "no run yet"
        line = (
            f"backfill {backfill_id}: {backfill.status.value.lower()}, {len(runs)} runs ({states})"
        )
        if line != last_line:
            elapsed = time.monotonic() - started
            report(f"  {elapsed:6.0f}s {line}")
            last_line = line
        finished = all(run.is_finished for run in runs)
        if backfill.status in DONE and finished:
            return BackfillOutcome(
                backfill_id,
                backfill.status.value,
                tuple((run.run_id, run.status.value, _describe(run)) for run in runs),
            )
        if timeout is not None and time.monotonic() - started > timeout:
            raise ConfigError(
                f"backfill {backfill_id}: not finished after {timeout:.0f}s ({line}); "
                "is a dagster-daemon running for this instance?"
            )
        time.sleep(poll)


def daemon_running(instance: dg.DagsterInstance) -> bool:
    """Whether a daemon sent this instance a heartbeat in the last minute."""
    beats = instance.get_daemon_heartbeats()
    now = time.time()
    return any(now - beat.timestamp < HEARTBEAT_SECONDS for beat in beats.values())


@contextmanager
def running_daemon(
    dagster_home: Path, env: dict[str, str], workspace: Path | None = None
) -> Iterator[subprocess.Popen[bytes] | None]:
    """A ``dagster-daemon run`` for the instance at ``dagster_home``, stopped on the way out.

    ``env`` is the daemon's whole environment (``TVS_CHUNK_DAYS`` decides the chunks: the
    daemon loads the definitions with it). The daemon's output goes to
    ``<dagster_home>/daemon.log``.
    """
    executable = shutil.which("dagster-daemon") or str(
        Path(sys.executable).with_name("dagster-daemon")
    )
    if not Path(executable).is_file():
        raise ConfigError("dagster-daemon: not found on PATH nor beside the Python that runs tvs")
    command = [executable, "run"]
    if workspace is not None:
        command += ["-w", str(workspace)]
    else:
        command += ["-m", "tvs_pipeline.definitions", "-a", "defs"]
    log = (dagster_home / "daemon.log").open("ab")
    process = subprocess.Popen(
        command,
        env={**env, "DAGSTER_HOME": str(dagster_home)},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(dagster_home),
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def daemon_env(chunk_days: int) -> dict[str, str]:
    """The environment of a daemon started by ``tvs``: this one, with the chunk size."""
    return {**os.environ, "TVS_CHUNK_DAYS": str(chunk_days)}


def run_chunked_backfill(
    settings: Settings,
    first: str,
    last: str,
    chunk_days: int,
    *,
    report: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    timeout: float | None = None,
    paths: Sequence[str] = ("nightly", "shadow"),
) -> list[BackfillOutcome]:
    """Backfill both paths over ``first..last``, their stages in runs of ``chunk_days`` days.

    First discovery and the bars sync as one run here (`bars_sync_job`: its days are
    sequential); then the rest of the champion path, then the challenger's (its parity reads
    both), each one asset backfill in the instance under ``$TVS_HOME/dagster``, run by its
    daemon; when no daemon is running for that instance, one is started for the duration with
    ``TVS_CHUNK_DAYS`` = ``chunk_days`` (a daemon already running uses its own
    environment's). The outcome of every run is appended to the audit ledger here (the runs
    are tagged as launched by ``tvs``, so the run-status sensors leave them alone).
    ``paths`` picks the paths (``nightly``, ``shadow``).

    Raises
    ------
    ConfigError
        A backfill did not succeed (the message names it and its failed runs), or did not end
        within ``timeout`` seconds.
    """
    from tvs_pipeline.definitions import build_definitions
    from tvs_pipeline.defs.jobs import NIGHTLY_ASSETS, SHADOW_ASSETS
    from tvs_pipeline.defs.runner import prepare_instance, run_job

    chunked = replace(settings, chunk_days=chunk_days)
    defs = build_definitions(chunked)
    home = prepare_instance(chunked)
    env = {
        **daemon_env(chunk_days),
        "TVS_HOME": str(settings.home),
        "TVS_LAKE": settings.lake_root,
        "TVS_PROFILE": settings.profile,
    }
    report(f"bars_sync: discovery and bars over {first}..{last} as one run")
    synced = run_job(chunked, "bars_sync", partition_range=(first, last))
    if not synced.success:
        raise ConfigError(f"bars_sync run {synced.run_id[:8]} failed at {synced.failure}")
    chunked_assets = [name for name in NIGHTLY_ASSETS if name not in SYNC_ASSETS]
    outcomes: list[BackfillOutcome] = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        started = contextlib.nullcontext() if daemon_running(instance) else None
        with started or running_daemon(home, env):
            for title, assets in (("nightly", chunked_assets), ("shadow", SHADOW_ASSETS)):
                if title not in paths:
                    continue
                backfill_id = submit_backfill(
                    instance, defs, assets, first, last, title=title, tags={BACKFILL_OF_TAG: title}
                )
                report(
                    f"{title}: backfill {backfill_id} of {first}..{last} in {chunk_days}-day runs"
                )
                outcome = follow_backfill(instance, backfill_id, report=report, timeout=timeout)
                _record_outcomes(chunked, instance, outcome)
                outcomes.append(outcome)
                if not outcome.success:
                    failed = [f"{run_id[:8]} ({span})" for run_id, status, span in outcome.runs
                              if status != "SUCCESS"]  # fmt: skip
                    raise ConfigError(
                        f"{title} backfill {backfill_id}: {outcome.status.lower()}; failed runs: "
                        f"{', '.join(failed) or 'none'} (the UI's Backfills page has their errors)"
                    )
    return outcomes


def _record_outcomes(
    settings: Settings, instance: dg.DagsterInstance, outcome: BackfillOutcome
) -> None:
    """A ``run_outcome`` record for each finished run of a backfill."""
    from tvs_pipeline.lake.ledger import append_run_outcome

    for run_id, status, _ in outcome.runs:
        run = instance.get_run_by_id(run_id)
        if run is None:
            continue
        failure = None if status == "SUCCESS" else f"run {status.lower()}"
        append_run_outcome(settings.ledger, run_id, run.job_name, dict(run.tags), failure)
