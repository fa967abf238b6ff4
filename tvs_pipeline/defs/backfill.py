"""Chunked backfills: asset backfills of K-day runs, executed by the instance's daemon.

With ``$TVS_CHUNK_DAYS`` = K the definitions give every day-independent daily asset
``BackfillPolicy.multi_run(K)`` (`chunk_policy`), so an asset backfill over a range runs as
runs of at most K days each. The daemon reads that policy from the code location it loads, so
K must be in the daemon's environment: `tvs backfill --chunk-days K` starts a daemon with it
when the instance has none running. The runs go through the instance's run queue
(``QueuedRunCoordinator``): its ``max_concurrent_runs`` and tag limits decide how many run at
once; each is a process of the default run launcher locally, a pod with ``K8sRunLauncher``
(deploy/). `run_chunked_backfill` syncs the bars as one run, then submits the chunks of both
paths, then each path's day-ordered assets (``allocation`` and ``simulation`` read day D−1:
`carry.day_before`) and what reads them as one run per stage, the paths side by side, then
what reads both paths (`backfill_stages`).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import BinaryIO

import dagster as dg
import yaml

# Dagster has no public Python call that submits an asset backfill: the UI's GraphQL
# mutation (launchPartitionBackfill) builds this same object and adds it to the instance.
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill

from tvs_pipeline.defs.resources import WORKERS_TAG
from tvs_pipeline.defs.shadow import CLI_LAUNCHED, LAUNCHER_TAG
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.settings import Settings

__all__ = [
    "BACKFILL_PATH",
    "PATH_TAG",
    "SYNC_ASSETS",
    "BackfillOutcome",
    "backfill_concurrency",
    "backfill_runs",
    "backfill_stages",
    "bars_sync_job",
    "chunk_days_of",
    "chunk_policy",
    "chunked_asset_names",
    "chunking_note",
    "code_server",
    "covers",
    "daemon_env",
    "daemon_running",
    "follow_backfill",
    "run_chunked_backfill",
    "running_daemon",
    "sequential",
    "submit_backfill",
    "tail_assets",
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
# The code location's name (workspace.yaml, [tool.dg]); its server answers within this.
LOCATION = "tvs_pipeline"
CODE_SERVER_START_SECONDS = 120
# Dagster's backfill daemon looks at a backfill every 30 s (a constant, not in dagster.yaml),
# so each stage that waits for another waits 15 s on average before its runs are queued.
# The daemon `tvs` starts runs Dagster's own entry point with this value set first. Lowered
# to 5 s, the waits per stage fell to 0-3.5 s, but on 2 shared cores the daemon's five-times
# more frequent evaluations slowed the runs as much (a 40-day backfill ended at the same
# second, docs/runbook.md §9.4): kept at Dagster's 30 s here; lower it where the daemon has
# a core of its own.
BACKFILL_TICK_SECONDS = 30
DAEMON_MAIN = """\
import sys
import dagster._daemon.controller as controller
controller.DEFAULT_DAEMON_INTERVAL_SECONDS = int(sys.argv.pop(1))
from dagster._daemon.cli import main
sys.argv[0] = "dagster-daemon"
sys.exit(main())
"""


def chunk_policy(
    assets: Sequence[dg.AssetsDefinition], chunk_days: int
) -> list[dg.AssetsDefinition]:
    """Each day-independent asset that backfills as one run, made to backfill in K-day runs.

    An asset whose day D reads an earlier day (`sequential`: ``bars`` its own past window,
    ``allocation`` its D−1 book, ``simulation`` its D−1 track record and the D−1 book) keeps
    its single run: its days are sequential whatever the split, and Dagster's asset backfill
    splits such assets badly (``bars`` one run per day; ``simulation`` chunks shifted by a day
    behind the book's, the last one reaching past the range). So does every asset that reads
    one of them, bars aside (`tail_assets`: ``performance_report``, the parity, the promotion
    report): chunked, each of their chunks would be a run of its own started as the sequential
    run ends (one process start and one daemon tick each, for seconds of work). The other
    assets are chunked and their chunks run at the same time. ``chunk_days`` 0 leaves the
    assets as they are (one run per backfill).
    """
    if chunk_days <= 0:
        return list(assets)
    single = dg.BackfillPolicy.single_run()
    policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=chunk_days)
    tail = tail_assets(assets)
    return [
        asset.with_attributes(backfill_policy=policy)
        if asset.backfill_policy == single
        and not sequential(asset)
        and not {key.to_user_string() for key in asset.keys} & tail
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


def tail_assets(assets: Sequence[dg.AssetsDefinition]) -> set[str]:
    """The sequential assets after the bars sync and every asset that reads one of them.

    The second stage of a chunked backfill: one run each, after the chunks (`chunk_policy`).
    """
    reads: dict[str, set[str]] = {}
    tail: set[str] = set()
    for asset in assets:
        for spec in asset.specs:
            name = spec.key.to_user_string()
            reads[name] = {dep.asset_key.to_user_string() for dep in spec.deps}
            if sequential(asset) and name not in SYNC_ASSETS:
                tail.add(name)
    grew = True
    while grew:  # downstream closure: a handful of assets, a few passes
        grew = False
        for name, parents in reads.items():
            if name not in tail and parents & tail:
                tail.add(name)
                grew = True
    return tail


@dataclass(frozen=True)
class BackfillOutcome:
    """How a backfill ended: its status and its runs (id, status, partition range)."""

    backfill_id: str
    status: str
    runs: tuple[tuple[str, str, str], ...]
    # The most days one run of a chunked (day-independent) asset covered: the chunk size the
    # daemon actually used, read from its runs (0: no such run).
    chunk_days: int = 0
    # Its runs had materialised every day of every asset it targets, before the daemon's
    # next tick marked it completed (`follow_backfill`'s ``covering``).
    covered: bool = False

    @property
    def success(self) -> bool:
        """Every run succeeded and the backfill completed (or its runs covered it all)."""
        done = self.covered or self.status in ("COMPLETED", "COMPLETED_SUCCESS")
        return done and all(status == "SUCCESS" for _, status, _ in self.runs)


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


def _bounds(run: dg.DagsterRun) -> tuple[str, str]:
    tags = run.tags
    first = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition", "")
    return first, tags.get("dagster/asset_partition_range_end") or first


def _describe(run: dg.DagsterRun) -> str:
    first, last = _bounds(run)
    return f"{first}..{last}" if first != last else first


def chunk_days_of(runs: Sequence[dg.DagsterRun], chunked: Collection[str]) -> int:
    """The most days one run of an asset in ``chunked`` covered (0: no such run).

    What the daemon that ran a backfill split it into: its code location's
    ``$TVS_CHUNK_DAYS`` decides, whatever `tvs` asked for.
    """
    most = 0
    for run in runs:
        names = {key.to_user_string() for key in run.asset_selection or ()}
        first, last = _bounds(run)
        if names & set(chunked) and first and last:
            days = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
            most = max(most, days)
    return most


def follow_backfill(
    instance: dg.DagsterInstance,
    backfill_id: str,
    *,
    report: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    timeout: float | None = None,
    poll: float = POLL_SECONDS,
    chunked: Collection[str] = (),
    daemon: subprocess.Popen[bytes] | None = None,
    covering: tuple[Collection[str], str, str] = (),
) -> BackfillOutcome:
    """Wait for a backfill to end, reporting each change of its runs; how it ended.

    ``chunked`` names the assets run in chunks: the outcome's ``chunk_days`` is read from
    their runs. ``daemon``: the daemon process running it, if started here. ``covering``
    (assets, first day, last day): end as soon as successful runs have materialised all of
    it, not at the daemon's next tick (up to 30 s later) that marks the backfill completed —
    for a stage whose successor waits on it (`run_chunked_backfill`).

    Raises
    ------
    ConfigError
        The backfill is not in the instance, did not end within ``timeout`` seconds, or
        ``daemon`` exited before it ended.
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
        covered = bool(covering) and finished and covers(runs, *covering)
        if (backfill.status in DONE and finished) or covered:
            return BackfillOutcome(
                backfill_id,
                backfill.status.value,
                tuple((run.run_id, run.status.value, _describe(run)) for run in runs),
                chunk_days_of(runs, chunked),
                covered and backfill.status not in DONE,
            )
        if daemon is not None and daemon.poll() is not None:
            raise ConfigError(
                f"backfill {backfill_id}: the dagster-daemon started for it exited "
                f"({daemon.returncode}) before it ended ({line})"
            )
        if timeout is not None and time.monotonic() - started > timeout:
            raise ConfigError(
                f"backfill {backfill_id}: not finished after {timeout:.0f}s ({line}); "
                "is a dagster-daemon running for this instance?"
            )
        time.sleep(poll)


def covers(runs: Sequence[dg.DagsterRun], assets: Collection[str], first: str, last: str) -> bool:
    """Whether successful ``runs`` materialised every day ``first..last`` of every asset."""
    needed = {
        (name, (date.fromisoformat(first) + timedelta(days=offset)).isoformat())
        for name in assets
        for offset in range((date.fromisoformat(last) - date.fromisoformat(first)).days + 1)
    }
    for run in runs:
        if run.status != dg.DagsterRunStatus.SUCCESS:
            continue
        start, end = _bounds(run)
        if not start:
            continue
        span = (date.fromisoformat(end) - date.fromisoformat(start)).days + 1
        days = [(date.fromisoformat(start) + timedelta(days=n)).isoformat() for n in range(span)]
        for key in run.asset_selection or ():
            needed -= {(key.to_user_string(), day) for day in days}
    return not needed


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
    code location is loaded with it). Without a ``workspace`` the daemon reads the code
    location from one code server started here for its lifetime (`code_server`): a daemon
    given the module instead starts its own server and replaces it every minute (its
    workspace refresh), a new process loading the definitions each time. The output of both
    goes to ``<dagster_home>/daemon.log``.

    Raises
    ------
    ConfigError
        The code server did not start.
    """
    env = {**env, "DAGSTER_HOME": str(dagster_home)}
    with contextlib.ExitStack() as stack:
        log = stack.enter_context((dagster_home / "daemon.log").open("ab"))
        if workspace is None:
            workspace = stack.enter_context(code_server(dagster_home, env, log))
        # `dagster-daemon run`, its backfill tick set to BACKFILL_TICK_SECONDS (`DAEMON_MAIN`).
        command = [sys.executable, "-c", DAEMON_MAIN, str(BACKFILL_TICK_SECONDS)]
        process = subprocess.Popen(
            [*command, "run", "-w", str(workspace)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(dagster_home),
        )
        stack.callback(_stop, process)
        yield process


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process``; kill it after 30 s."""
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def code_server(dagster_home: Path, env: dict[str, str], log: BinaryIO) -> Iterator[Path]:
    """A ``dagster api grpc`` server of the definitions on a local socket; its workspace file.

    Loaded once with ``env`` (``TVS_CHUNK_DAYS``), it serves the daemon's workspace refreshes
    and starts each run's process; stopped on the way out.

    Raises
    ------
    ConfigError
        The server did not answer within `CODE_SERVER_START_SECONDS`.
    """
    from dagster._grpc.client import DagsterGrpcClient

    folder = Path(tempfile.mkdtemp(prefix="tvs-code-"))  # short: a socket path has 107 bytes
    socket = folder / "grpc.sock"
    command = [sys.executable, "-m", "dagster", "api", "grpc", "--socket", str(socket)]
    command += ["-m", "tvs_pipeline.definitions", "-a", "defs", "--location-name", LOCATION]
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(dagster_home)
    )
    try:
        client = DagsterGrpcClient(socket=str(socket))
        deadline = time.monotonic() + CODE_SERVER_START_SECONDS
        while True:
            if process.poll() is not None:
                raise ConfigError(
                    f"code server for {dagster_home}: exited {process.returncode} before it "
                    f"answered (its output: {dagster_home / 'daemon.log'})"
                )
            try:
                client.ping("tvs")
                break
            except Exception:  # not listening yet
                if time.monotonic() > deadline:
                    raise ConfigError(
                        f"code server for {dagster_home}: no answer within "
                        f"{CODE_SERVER_START_SECONDS}s (its output: {dagster_home / 'daemon.log'})"
                    ) from None
                time.sleep(0.5)
        workspace = folder / "workspace.yaml"
        location = {"socket": str(socket), "location_name": LOCATION}
        workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": location}]}))
        yield workspace
    finally:
        _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


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
    """Backfill ``paths`` over ``first..last`` in three stages; the two backfills' outcomes.

    1. Discovery and the bars sync as one run here (`bars_sync_job`: its days are sequential).
    2. One asset backfill of every day-independent asset of ``paths`` (the funnel, selection,
       synthesis, both paths' alike) in runs of ``chunk_days`` days (`chunked_asset_names`),
       which the queue runs side by side, each with a share of the cores (`WORKERS_TAG`).
    3. When it has ended, one asset backfill of the rest (`tail_assets`: the allocation and
       the track record, which carry day D−1, and what reads them) as one run per stage over
       the range, with all the cores. Submitted only after the chunks, it is never split:
       in the same backfill, Dagster would start a run of the day-ordered assets over
       whatever days the chunks had finished at each tick (a 60-day backfill made 37 runs).

    Both backfills are in the instance under ``$TVS_HOME/dagster``, run by its daemon; when
    no daemon is running for that instance, one is started for the duration with
    ``TVS_CHUNK_DAYS`` = ``chunk_days`` (a daemon already running uses its own environment's).
    The outcome of every run is appended to the audit ledger here (the runs are tagged as
    launched by ``tvs``, so the run-status sensors leave them alone). ``paths`` picks the
    paths (``nightly``, ``shadow``).

    Raises
    ------
    ConfigError
        A backfill did not succeed (the message names it and its failed runs), or did not end
        within ``timeout`` seconds.
    """
    from tvs_pipeline.definitions import build_definitions
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
    split = chunked_asset_names(defs)
    groups = backfill_stages(defs, paths)
    days = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
    outcomes: list[BackfillOutcome] = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        running = daemon_running(instance)
        if running:
            report(
                "a dagster-daemon already runs for this instance: its own TVS_CHUNK_DAYS "
                f"splits the backfill (asked: {chunk_days})"
            )
        at_once = backfill_concurrency(instance)
        with contextlib.nullcontext() if running else running_daemon(home, env) as daemon:
            for number, group in enumerate(groups):
                chunks = number == 0
                # The runs side by side share the cores (one each when nothing limits how
                # many run at once): the chunks, or one path's books beside the other's.
                side_by_side = at_once if chunks else min(len(group), at_once or len(group))
                workers = max(1, settings.workers // side_by_side) if side_by_side else 1
                submitted = []
                for title, assets in group:
                    tags = {BACKFILL_OF_TAG: title, WORKERS_TAG: str(workers)}
                    backfill_id = submit_backfill(
                        instance, defs, assets, first, last, title=title, tags=tags
                    )
                    shape = f"in {chunk_days}-day runs" if chunks else "one run per stage"
                    report(f"{title}: backfill {backfill_id} of {first}..{last} {shape}")
                    submitted.append((title, assets, backfill_id))
                for title, assets, backfill_id in submitted:
                    outcome = follow_backfill(
                        instance,
                        backfill_id,
                        report=report,
                        timeout=timeout,
                        chunked=split,
                        daemon=daemon,
                        # A stage ends when its runs have every day: the next need not wait
                        # for the daemon's tick that marks it completed. The last stage
                        # does, so no backfill is left in progress in the instance.
                        covering=(assets, first, last) if number < len(groups) - 1 else (),
                    )
                    _record_outcomes(chunked, instance, outcome)
                    outcomes.append(outcome)
                    note = chunking_note(title, outcome, chunk_days, days)
                    if note:
                        report(note)
                    if not outcome.success:
                        failed = [f"{run_id[:8]} ({span})" for run_id, status, span in outcome.runs
                                  if status != "SUCCESS"]  # fmt: skip
                        raise ConfigError(
                            f"{title} backfill {backfill_id}: {outcome.status.lower()}; failed "
                            f"runs: {', '.join(failed) or 'none'} (the UI's Backfills page has "
                            "their errors)"
                        )
    return outcomes


def backfill_stages(
    defs: dg.Definitions, paths: Sequence[str]
) -> list[list[tuple[str, list[str]]]]:
    """The backfills after the bars sync, in groups, each a list of (title, assets).

    The groups run one after the other, the backfills of a group side by side:

    1. The chunks: every day-independent asset of ``paths`` (`chunked_asset_names`).
    2. Per path, its assets in day order (`tail_assets`) that read no other path's: the
       champion's books and track record beside the challenger's.
    3. The assets in day order that read both paths (the parity, the promotion report).
    Empty backfills and groups are left out.
    """
    from tvs_pipeline.defs.jobs import NIGHTLY_ASSETS, SHADOW_ASSETS

    graph = defs.resolve_asset_graph()
    split = chunked_asset_names(defs)
    names = {"nightly": NIGHTLY_ASSETS, "shadow": SHADOW_ASSETS}
    own = {
        path: [name for name in names[path] if name not in SYNC_ASSETS]
        for path in ("nightly", "shadow")
        if path in paths
    }
    owner = {name: path for path, assets in own.items() for name in assets if name not in split}

    def reaches(name: str) -> set[str]:
        """The paths of the day-ordered assets ``name`` is or reads, directly or not."""
        parents = graph.get(dg.AssetKey(name)).parent_keys
        found = {owner[name]}
        for parent in (key.to_user_string() for key in parents):
            if parent in owner and parent != name:
                found |= reaches(parent)
        return found

    joined = "+".join(own)
    groups = [
        [
            (
                f"{joined} chunks",
                [name for assets in own.values() for name in assets if name in split],
            )
        ],
        [
            (
                f"{path} in order",
                [name for name in assets if name in owner and reaches(name) == {path}],
            )
            for path, assets in own.items()
        ],
        [(f"{joined} in order", [name for name in owner if len(reaches(name)) > 1])],
    ]
    groups = [[(title, assets) for title, assets in group if assets] for group in groups]
    return [group for group in groups if group]


def backfill_concurrency(instance: dg.DagsterInstance) -> int:
    """How many runs of a backfill the instance's queue starts at once (0: no limit).

    The least of ``max_concurrent_runs`` and the ``tvs/path=backfill`` tag limit, where set;
    an instance without a queue (``DefaultRunCoordinator``) starts every run as submitted.
    """
    queue = instance.get_concurrency_config().run_queue_config
    if queue is None:
        return 0
    # max_concurrent_runs -1: no limit (0 would pause the queue: nothing runs at all).
    limits = [queue.max_concurrent_runs] if queue.max_concurrent_runs > 0 else []
    limits += [
        int(limit["limit"])
        for limit in queue.tag_concurrency_limits
        if limit.get("key") == PATH_TAG and limit.get("value") == BACKFILL_PATH
    ]
    return min(limits, default=0)


def chunked_asset_names(defs: dg.Definitions) -> set[str]:
    """The assets of ``defs`` that a chunked backfill splits (`chunk_policy`)."""
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if (policy := graph.get(key).backfill_policy) is not None
        and policy.max_partitions_per_run is not None
    }


def chunking_note(title: str, outcome: BackfillOutcome, asked: int, days: int) -> str:
    """One warning line when the backfill's runs were not of the ``asked`` size; else "".

    A daemon started before `tvs backfill` splits with its own ``$TVS_CHUNK_DAYS``.
    """
    if not outcome.chunk_days or outcome.chunk_days == min(asked, days):
        return ""
    return (
        f"warning: {title} backfill {outcome.backfill_id} ran in runs of up to "
        f"{outcome.chunk_days} days, not {asked}: the running daemon's TVS_CHUNK_DAYS decides "
        f"(restart it with TVS_CHUNK_DAYS={asked})"
    )


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
