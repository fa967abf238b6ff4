"""Run the nightly job in-process on the shared instance (what `tvs run` and `tvs backfill` do)."""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import dagster as dg
from filelock import FileLock
from sqlalchemy.exc import SQLAlchemyError

from tvs_pipeline.definitions import build_definitions
from tvs_pipeline.defs.partitions import DAILY
from tvs_pipeline.defs.shadow import CLI_LAUNCHED, LAUNCHER_TAG
from tvs_pipeline.display import RunDisplay
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.lake.ledger import append_run_outcome
from tvs_pipeline.messages import describe_error, one_line
from tvs_pipeline.progress import day_count
from tvs_pipeline.settings import Settings

__all__ = [
    "DAGSTER_YAML",
    "HOST_TAG",
    "PID_TAG",
    "PROCESS_START_TAG",
    "RunInterrupted",
    "RunOutcome",
    "dagster_yaml",
    "fail_orphaned_runs",
    "location_tags",
    "partition_bounds",
    "prepare_instance",
    "process_alive",
    "process_start",
    "run_job",
    "run_nightly",
]

POLL_SECONDS = 1.0
# The terminal gets one line per step from `_print_progress`; Dagster's own console logger only
# stays quiet: failures come back as one line (the full event log is in the instance and UI).
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# Where a `tvs` run executes: a run whose process is gone is failed at the next start on the
# same host (`fail_orphaned_runs`); the start time tells a reused pid from the run's process.
HOST_TAG, PID_TAG, PROCESS_START_TAG = "tvs/host", "tvs/pid", "tvs/process_start"
# A run in one of these states is still owned by its process.
LIVE_STATUSES = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
# First-time setup of the instance (dagster.yaml, its SQLite schemas) runs once, under this
# lock; the marker says it is done, so later starts take no lock.
SETUP_LOCK, SETUP_DONE = ".tvs-setup.lock", ".tvs-setup-done"
SETUP_LOCK_SECONDS = 300

DAGSTER_YAML = """\
# Written by `tvs` on first use: the instance shared by `tvs` and `dagster dev`
# (DAGSTER_HOME=$TVS_HOME/dagster). Keep in step with the repository's dagster.yaml.
telemetry:
  enabled: false
nux:
  enabled: false
# The steps' stdout and stderr, for the run page of the UI (`tvs` draws its progress on its
# own copy of the terminal, so capturing them takes nothing from it).
compute_logs:
  module: tvs_pipeline.defs.compute_logs
  class: StepLogManager
  config:
    base_dir: "{home}/storage"
concurrency:
  runs:
    tag_concurrency_limits:
      # Nightly runs of the champion path never overlap.
      - key: tvs/path
        value: champion
        limit: 1
      # The chunks of a backfill (`tvs backfill --chunk-days`) have their own limit: one per
      # core of a 2-core machine; raise it with the cores (docs/runbook.md §9).
      - key: tvs/path
        value: backfill
        limit: 2
# The daemon admits queued runs every second (Dagster's default, 5 s, holds each queued run
# 2.5 s on average: a chunked backfill queues one run per chunk and stage).
run_queue:
  dequeue_interval_seconds: 1
run_retries:
  enabled: true
  max_retries: 1
"""
# What `tvs` wrote before the backfill limit: such a file, untouched, is rewritten.
DAGSTER_YAML_BEFORE_BACKFILL_LIMIT = """\
# Written by `tvs` on first use: the instance shared by `tvs` and `dagster dev`
# (DAGSTER_HOME=$TVS_HOME/dagster). Keep in step with the repository's dagster.yaml.
telemetry:
  enabled: false
nux:
  enabled: false
# The steps' stdout and stderr, for the run page of the UI (`tvs` draws its progress on its
# own copy of the terminal, so capturing them takes nothing from it).
compute_logs:
  module: tvs_pipeline.defs.compute_logs
  class: StepLogManager
  config:
    base_dir: "{home}/storage"
concurrency:
  runs:
    tag_concurrency_limits:
      - key: tvs/path
        value: champion
        limit: 1
run_retries:
  enabled: true
  max_retries: 1
"""
PROGRESS_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
}
INTERRUPTED = "interrupted: Ctrl-C (or SIGTERM) in tvs"
# A step's log line that the terminal shows too: a source's retry or note (`partitions.announce`).
NOTICE = "↻ "
WILL_RETRY_TAG = "dagster/will_retry"  # what the daemon's run retries act on
# What the UI files a run under (a run launched from it gets these from its code location):
# the repository label the job page filters its runs on, and the partition set of a partition.
REPOSITORY_TAG, PARTITION_SET_TAG = ".dagster/repository", "dagster/partition_set"
REPOSITORY_NAME, LOCATION_NAME = "__repository__", "tvs_pipeline"  # workspace.yaml, [tool.dg]


@dataclass(frozen=True)
class RunOutcome:
    """What a run left behind: its id, success, and the first failure as one line."""

    run_id: str
    success: bool
    failure: str = ""


def prepare_instance(settings: Settings) -> Path:
    """Create ``$TVS_HOME/dagster`` with its dagster.yaml (telemetry and pop-up off).

    The first start creates the instance's storage too, once, under a file lock: two
    processes creating the SQLite schemas at the same time fail (``table runs already
    exists``, ``UNIQUE constraint failed: alembic_version``). Later starts see the marker
    and take no lock.

    Raises
    ------
    ConfigError
        ``$TVS_HOME`` cannot hold the instance: a file is in the way, or it is not writable.
    """
    home = settings.dagster_home
    try:
        home.mkdir(parents=True, exist_ok=True)
        if (home / SETUP_DONE).exists():
            _upgrade_config(home)
            return home
        with FileLock(str(home / SETUP_LOCK), timeout=SETUP_LOCK_SECONDS):
            if not (home / SETUP_DONE).exists():
                _set_up_instance(home)
    except (PermissionError, FileExistsError, NotADirectoryError) as err:
        raise ConfigError(
            f"TVS_HOME {settings.home}: {describe_error(err)} (expected a writable directory)"
        ) from err
    except SQLAlchemyError as err:
        raise _instance_error(home, err) from err
    return home


def dagster_yaml(home: Path) -> str:
    """The instance's dagster.yaml for ``home`` (the step logs go under it)."""
    return DAGSTER_YAML.replace("{home}", str(Path(home).resolve()))


def _upgrade_config(home: Path) -> None:
    """Rewrite a dagster.yaml `tvs` wrote before a later need, as long as nobody edited it.

    Before step logs were kept (no compute log files), or before the backfill limit (only
    the file exactly as `tvs` wrote it: an operator's own limits stay).
    """
    config = home / "dagster.yaml"
    try:
        text = config.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    before_limit = DAGSTER_YAML_BEFORE_BACKFILL_LIMIT.replace("{home}", str(Path(home).resolve()))
    if text.startswith("# Written by `tvs`") and (
        "noop_compute_log_manager" in text or text == before_limit
    ):
        staged = home / f".dagster.yaml.{uuid.uuid4().hex}.tmp"
        staged.write_text(dagster_yaml(home), encoding="utf-8")
        os.replace(staged, config)


def _instance_error(home: Path, err: Exception) -> OSError:
    """A failure of the instance's storage (a full disk, a locked file) as one line naming it."""
    return OSError(f"Dagster instance {home}: {describe_error(err)}")


def _set_up_instance(home: Path) -> None:
    """Write dagster.yaml, create every storage of the instance, then the marker."""
    config = home / "dagster.yaml"
    if not config.exists():
        staged = home / f".dagster.yaml.{uuid.uuid4().hex}.tmp"
        staged.write_text(dagster_yaml(home), encoding="utf-8")
        os.replace(staged, config)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # Each call opens one storage (runs, event log index, schedules): their schemas are
        # created on first open.
        instance.get_runs(limit=1)
        instance.get_latest_materialization_event(dg.AssetKey("tvs_setup"))
        instance.all_instigator_state()
    (home / SETUP_DONE).write_text("", encoding="utf-8")


def process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, from /proc); "" when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def process_alive(pid: int, started: str = "") -> bool:
    """Whether process ``pid`` still runs and, when ``started`` is given, is the same process.

    A pid the kernel has given to a later process (its start differs) or a zombie counts as
    gone; a process of another user still counts as alive.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[-1].split()
    except OSError:
        return True  # no /proc: the signal test is all there is
    if state and state[0] in ("Z", "X"):
        return False
    return not started or process_start(pid) == started


def fail_orphaned_runs(instance: dg.DagsterInstance, ledger: Path) -> list[str]:
    """Mark failed the unfinished runs of this host whose process is gone; return their ids.

    A killed `tvs run` leaves its run STARTED for ever, and the instance's
    ``tvs/path=champion`` limit of one run would hold a queued nightly behind it. Only runs
    tagged with this host are judged (a pid means nothing elsewhere): each gets a
    ``run_outcome`` FAILURE record in the ledger, then its failure event in the instance
    (in that order: a failure to write the record leaves the run to be judged again).
    Runs elsewhere are the daemon's run monitoring's (docs/runbook.md).
    """
    host = socket.gethostname()
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=LIVE_STATUSES, tags={HOST_TAG: host})
    )
    failed = []
    for record in records:
        run = record.dagster_run
        pid_text = run.tags.get(PID_TAG, "")
        if not pid_text.isdigit() or process_alive(
            int(pid_text), run.tags.get(PROCESS_START_TAG, "")
        ):
            continue
        reason = (
            f"process {pid_text} on {host} ended without finishing the run "
            "(killed?); marked failed by tvs at start"
        )
        append_run_outcome(ledger, run.run_id, run.job_name, dict(run.tags), reason)
        instance.report_run_failed(run, message=reason)
        print(f"run {run.run_id[:8]} ({run.job_name}) marked FAILED: {reason}", file=sys.stderr)
        failed.append(run.run_id)
    return failed


def partition_bounds() -> tuple[str, str]:
    """The first and the latest complete partition keys."""
    keys = DAILY.get_partition_keys()
    return keys[0], keys[-1]


def run_nightly(settings: Settings, **kwargs: object) -> RunOutcome:
    """Execute the champion path (``nightly``); see ``run_job``."""
    return run_job(settings, "nightly", **kwargs)


def run_job(
    settings: Settings,
    job_name: str,
    *,
    partition_key: str | None = None,
    partition_range: tuple[str, str] | None = None,
    tags: dict[str, str] | None = None,
    **options: object,
) -> RunOutcome:
    """Execute a job for one partition or, as a single run, for a range of partitions.

    The run lands in the shared instance under ``$TVS_HOME/dagster`` with the tags of a run
    launched from the UI (the job page lists it), and its progress is drawn on the terminal
    (`RunDisplay`). It is tagged with this host and process, and first the runs this host
    left unfinished are failed (`fail_orphaned_runs`). The definitions are built before
    anything is written, so a bad option leaves no trace. A Ctrl-C (or SIGTERM) cancels the
    run: the step in progress stops at its next safe point (a partition being written is
    finished first), the run ends CANCELED, its outcome goes to the ledger and
    `RunInterrupted` is raised.

    Raises
    ------
    ConfigError
        ``$TVS_HOME`` cannot hold the instance, or an option is wrong.
    OSError
        The run's outcome could not be written to the ledger (the message says which run).
    RunInterrupted
        The run was interrupted; it is CANCELED.
    """
    defs = build_definitions(settings, **options)
    job = defs.resolve_job_def(job_name)
    home = prepare_instance(settings)
    ledger = settings.ledger  # the file under $TVS_HOME, or $TVS_LEDGER (PostgreSQL)
    tags = dict(tags or {}) | {LAUNCHER_TAG: CLI_LAUNCHED} | _process_tags()
    tags |= location_tags(job_name, partition_key)
    days = 1
    if partition_range is not None:
        tags |= {
            "dagster/asset_partition_range_start": partition_range[0],
            "dagster/asset_partition_range_end": partition_range[1],
        }
        days = len(DAILY.get_partition_keys_in_range(dg.PartitionKeyRange(*partition_range)))
    run_id = str(uuid.uuid4())
    result: list[dg.ExecuteInProcessResult] = []
    crashed: list[Exception] = []
    try:
        instance = dg.DagsterInstance.from_config(str(home))
    except SQLAlchemyError as err:
        raise _instance_error(home, err) from err
    with instance:
        try:
            fail_orphaned_runs(instance, ledger)
        except SQLAlchemyError as err:  # before the run exists: an error, not a run outcome
            raise _instance_error(home, err) from err
        follower = _Follower(instance, run_id)
        title = f"{job_name} {run_id[:8]}"
        with (
            _own_stderr() as stream,
            RunDisplay(title, len(job.nodes_in_topological_order), days, stream) as display,
            _signals_to(follower.wake),
            _lines_of_other_threads(),
        ):
            follower.start(display)
            try:
                # In the main thread: Dagster stops a step at its next safe point on a Ctrl-C
                # and marks the run CANCELED when the follower has asked for it first.
                result.append(
                    job.execute_in_process(
                        instance=instance,
                        partition_key=partition_key,
                        tags=tags,
                        run_id=run_id,
                        run_config=QUIET_CONSOLE,
                        raise_on_error=False,
                    )
                )
            except KeyboardInterrupt:  # before or after Dagster's own handling
                follower.interrupted.set()
            except Exception as err:  # the run could not go on (instance storage, disk)
                crashed.append(err)
            finally:
                follower.stop()
        follower.close()
        if follower.interrupted.is_set():
            outcome = _settle_canceled(instance, run_id, follower.last_step)
        else:
            outcome = _verdict(run_id, result[0] if result else None, crashed, home)
    try:
        append_run_outcome(
            ledger, outcome.run_id, job_name, tags, None if outcome.success else outcome.failure
        )
    except OSError as err:
        status = "SUCCESS" if outcome.success else f"FAILURE at {outcome.failure}"
        raise OSError(
            err.errno,
            f"{ledger}: could not record {job_name} run {run_id[:8]} ({status}): "
            f"{describe_error(err)}",
        ) from err
    if follower.interrupted.is_set():
        raise RunInterrupted(f"{job_name} run {run_id[:8]} {outcome.failure}")
    return outcome


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C or SIGTERM; it is CANCELED and its outcome is in the ledger."""


def location_tags(job_name: str, partition_key: str | None = None) -> dict[str, str]:
    """The tags the UI files a run under: its code location, and a partition's partition set.

    A run launched from the UI gets them from its code location; an in-process run has none,
    so the job page's run list (which filters on the repository tag), its sparkline and the
    partitions tab would not show it.
    """
    tags = {REPOSITORY_TAG: f"{REPOSITORY_NAME}@{LOCATION_NAME}"}
    if partition_key is not None:
        tags[PARTITION_SET_TAG] = f"{job_name}_partition_set"
    return tags


class _Follower:
    """A thread that follows a run's events into the display and turns a signal into a cancel.

    ``wake`` is the read end of the pipe the interpreter writes each signal's number to
    (`signal.set_wakeup_fd`): the follower sees a Ctrl-C at once, even while the main thread
    is deep in a step, and asks the instance to cancel the run before Dagster's own handler
    ends the step (Dagster then ends the run CANCELED rather than FAILURE).
    """

    def __init__(self, instance: dg.DagsterInstance, run_id: str) -> None:
        self.instance, self.run_id = instance, run_id
        self.wake_read, self.wake = os.pipe()
        os.set_blocking(self.wake, False)
        self.interrupted = threading.Event()
        self.last_step = ""
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._display: RunDisplay | None = None
        self._run: dg.DagsterRun | None = None

    def start(self, display: RunDisplay) -> None:
        self._display = display
        self._thread = threading.Thread(target=self._follow, name="tvs-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Show the last events and end the thread."""
        self._halt.set()
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        """Close the signal pipe (once the interpreter no longer writes to it)."""
        os.close(self.wake_read)
        os.close(self.wake)

    def _follow(self) -> None:
        started, cursor = time.time(), None
        while True:
            halted = self._halt.is_set()
            ready, _, _ = select.select([self.wake_read], [], [], 0 if halted else POLL_SECONDS)
            if ready:
                signals = os.read(self.wake_read, 64)
                if signal.SIGINT in signals or signal.SIGTERM in signals:
                    self._cancel()
            cursor = self._show(cursor, started)
            if halted:
                return
            self._display.tick(day_count())

    def _cancel(self) -> None:
        """Ask the instance to cancel the run (once), so that Dagster ends it CANCELED."""
        if self.interrupted.is_set():
            return
        self.interrupted.set()
        if self._run is None:
            return  # not started yet: `_settle_canceled` ends it after it stops
        try:  # one write: it must land before Dagster reads the status to end the run
            self.instance.report_run_canceling(self._run, message=INTERRUPTED)
        except SQLAlchemyError:
            pass  # the run is settled after it stops (`_settle_canceled`)

    def _show(self, cursor: str | None, started: float) -> str | None:
        """Show the step events recorded after ``cursor``; a failing read skips a poll."""
        try:
            found = self.instance.get_records_for_run(self.run_id, cursor=cursor)
        except SQLAlchemyError:
            return cursor
        for record in found.records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if event is None:
                if entry.user_message.startswith(NOTICE):
                    self._display.say(f"  {entry.user_message}")
                continue
            if event.event_type not in PROGRESS_EVENTS:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                if self._run is None:  # read once, so that a cancel is a single write
                    self._run = self.instance.get_run_by_id(self.run_id)
                self.last_step = entry.step_key
                self._display.step_started(entry.step_key)
            else:
                ok = event.event_type == dg.DagsterEventType.STEP_SUCCESS
                self._display.step_finished(entry.step_key, ok, max(0.0, entry.timestamp - started))
        return found.cursor if found.records else cursor


def _settle_canceled(instance: dg.DagsterInstance, run_id: str, step: str) -> RunOutcome:
    """End an interrupted run CANCELED whatever state Dagster left it in; say where it stopped."""
    try:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status != dg.DagsterRunStatus.CANCELED:
            # Dagster ended it before it saw the cancel (FAILURE, to be retried): not so.
            instance.report_run_canceled(run, message=INTERRUPTED)
            instance.add_run_tags(run_id, {WILL_RETRY_TAG: "false"})
    except SQLAlchemyError:
        pass  # the next start fails it as an orphan (`fail_orphaned_runs`)
    where = f" at {step}" if step else ""
    return RunOutcome(run_id, False, f"canceled{where} (interrupted)")


@contextmanager
def _signals_to(fd: int) -> Iterator[None]:
    """Have the interpreter write each signal's number to ``fd`` (main thread only)."""
    try:
        previous = signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    except ValueError:  # not the main thread: no signal reaches this run anyway
        yield
        return
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)


@contextmanager
def _own_stderr() -> Iterator[TextIO]:
    """A copy of stderr for the display: the run's step logs take fd 2 while it executes."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a test's capture: draw on it directly
        yield sys.stderr
        return
    sys.stderr.flush()
    stream = os.fdopen(os.dup(fd), "w", encoding="utf-8", errors="replace", buffering=1)
    try:
        yield stream
    finally:
        stream.close()


def _process_tags() -> dict[str, str]:
    """The host and the process of the caller, as run tags (see `fail_orphaned_runs`)."""
    pid = os.getpid()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(pid),
        PROCESS_START_TAG: process_start(pid),
    }


class _OneLinePerMessage:
    """``sys.stderr`` while a run executes: each message comes out as one line.

    Dagster writes some complaints straight to stderr (an event it could not store on a full
    disk: the error, the SQL, its parameters, a link); the line that says what is wrong is
    kept. The progress display draws on its own copy of the descriptor, not through this.
    """

    def __init__(self, target: TextIO) -> None:
        self._target = target

    def write(self, text: str) -> int:
        """Reduce a message to its one line."""
        line = one_line(text)
        return self._target.write(line + "\n") if line else len(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self._target, name)


@contextmanager
def _lines_of_other_threads() -> Iterator[None]:
    """Route ``sys.stderr`` through `_OneLinePerMessage` for the block."""
    target = sys.stderr
    sys.stderr = _OneLinePerMessage(target)
    try:
        yield
    finally:
        sys.stderr = target


def _verdict(
    run_id: str,
    result: dg.ExecuteInProcessResult | None,
    crashed: list[Exception] | None = None,
    home: Path | None = None,
) -> RunOutcome:
    """Success, or the first failed step and the line of its error that says what is wrong.

    A run that stopped before its end (its instance storage failed, the disk filled up) says
    why: the exception that stopped it, the instance named when it was the instance's.
    """
    if result is None:
        if not crashed:
            return RunOutcome(run_id, False, "run did not complete")
        err = crashed[0]
        where = f"Dagster instance {home}" if isinstance(err, SQLAlchemyError) else "execution"
        return RunOutcome(run_id, False, f"{where}: {describe_error(err)}")
    if result.success:
        return RunOutcome(result.run_id, True)
    failures = [event for event in result.all_events if event.is_step_failure]
    if not failures:
        return RunOutcome(result.run_id, False, "run failed")
    error = failures[0].step_failure_data.error
    cause = error.cause or error
    message = one_line(cause.message or error.message) or one_line(error.message)
    if home is not None and _from_instance_storage(error):
        message = f"Dagster instance {home}: {message}"
    return RunOutcome(result.run_id, False, f"{failures[0].step_key}: {message}")


# The lake is Parquet + DuckDB and the ledger is files: a database error inside a step can only
# come from the instance's own storage (SQLite or Postgres), which the error itself never names.
_INSTANCE_STORAGE_ERRORS = frozenset(
    {"OperationalError", "DatabaseError", "IntegrityError", "InterfaceError", "ProgrammingError"}
)


def _from_instance_storage(error) -> bool:
    """Whether a step's error (or one of its causes) is the instance storage's."""
    while error is not None:
        if error.cls_name in _INSTANCE_STORAGE_ERRORS:
            return True
        error = error.cause or error.context
    return False
