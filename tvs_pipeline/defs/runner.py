"""Run the nightly job in-process on the shared instance (what `tvs run` and `tvs backfill` do)."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from tvs_pipeline.definitions import build_definitions
from tvs_pipeline.defs.partitions import DAILY
from tvs_pipeline.defs.shadow import CLI_LAUNCHED, LAUNCHER_TAG
from tvs_pipeline.lake.ledger import append_run_outcome
from tvs_pipeline.settings import Settings

POLL_SECONDS = 1.0
# The terminal gets one line per step from `_print_progress`; Dagster's own console logger only
# stays quiet: failures come back as one line (the full event log is in the instance and UI).
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

__all__ = [
    "DAGSTER_YAML",
    "RunOutcome",
    "partition_bounds",
    "prepare_instance",
    "run_job",
    "run_nightly",
]

DAGSTER_YAML = """\
# Written by `tvs` on first use: the instance shared by `tvs` and `dagster dev`
# (DAGSTER_HOME=$TVS_HOME/dagster). Keep in step with the repository's dagster.yaml.
telemetry:
  enabled: false
nux:
  enabled: false
# Steps log through Dagster events, not stdout; capturing stdout would also swallow the
# progress lines `tvs` prints while a run executes in-process.
compute_logs:
  module: dagster._core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
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
    dg.DagsterEventType.STEP_SUCCESS: "✓",
    dg.DagsterEventType.STEP_FAILURE: "✗",
}


@dataclass(frozen=True)
class RunOutcome:
    """What a run left behind: its id, success, and the first failure as one line."""

    run_id: str
    success: bool
    failure: str = ""


def prepare_instance(settings: Settings) -> Path:
    """Create ``$TVS_HOME/dagster`` with its dagster.yaml (telemetry and pop-up off)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    return home


def _print_progress(
    instance: dg.DagsterInstance, run_id: str, cursor: str | None, started: float
) -> str | None:
    """Print step outcomes recorded after ``cursor`` (seconds since the run started).

    Reads only the new records: re-reading the whole event log on every poll made the
    printer's cost grow with the run, and it ran beside the steps on the same two cores.
    """
    found = instance.get_records_for_run(run_id, cursor=cursor, of_type=set(PROGRESS_EVENTS))
    for record in found.records:
        entry = record.event_log_entry
        if entry.dagster_event is None:
            continue
        mark = PROGRESS_EVENTS[entry.dagster_event.event_type]
        at = max(0.0, entry.timestamp - started)
        print(f"  {mark} {entry.step_key:<22} {at:6.1f}s", file=sys.stderr, flush=True)
    return found.cursor if found.records else cursor


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

    The run lands in the shared instance under ``$TVS_HOME/dagster`` (visible in the UI) and
    prints one line per finished step.
    """
    home = prepare_instance(settings)
    defs = build_definitions(settings, **options)
    job = defs.resolve_job_def(job_name)
    tags = dict(tags or {}) | {LAUNCHER_TAG: CLI_LAUNCHED}
    if partition_range is not None:
        tags |= {
            "dagster/asset_partition_range_start": partition_range[0],
            "dagster/asset_partition_range_end": partition_range[1],
        }
    run_id = str(uuid.uuid4())
    outcome: list[dg.ExecuteInProcessResult] = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        worker = threading.Thread(
            target=lambda: outcome.append(
                job.execute_in_process(
                    instance=instance,
                    partition_key=partition_key,
                    tags=tags,
                    run_id=run_id,
                    run_config=QUIET_CONSOLE,
                    raise_on_error=False,
                )
            ),
            daemon=True,
        )
        started, cursor = time.time(), None
        worker.start()
        while worker.is_alive():
            worker.join(POLL_SECONDS)
            cursor = _print_progress(instance, run_id, cursor, started)
        _print_progress(instance, run_id, cursor, started)
    verdict = _verdict(run_id, outcome[0] if outcome else None)
    append_run_outcome(
        settings.ledger_dir / "audit.jsonl",
        verdict.run_id,
        job_name,
        tags,
        None if verdict.success else verdict.failure,
    )
    return verdict


def _verdict(run_id: str, result: dg.ExecuteInProcessResult | None) -> RunOutcome:
    """Success, or the first failed step and the last line of its error."""
    if result is None:
        return RunOutcome(run_id, False, "run did not complete")
    if result.success:
        return RunOutcome(result.run_id, True)
    failures = [event for event in result.all_events if event.is_step_failure]
    if not failures:
        return RunOutcome(result.run_id, False, "run failed")
    error = failures[0].step_failure_data.error
    cause = error.cause or error
    message = (cause.message or error.message).strip().splitlines()[-1]
    return RunOutcome(result.run_id, False, f"{failures[0].step_key}: {message}")
