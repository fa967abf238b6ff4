"""Sensors: the shadow run and the tournament after each champion run; outcomes in the ledger.

A run-status sensor rather than Declarative Automation launches the shadow run: automation
conditions fire as soon as an input updates (mid-run, after `selection` but before
`allocation`) and only for the latest partition, while the shadow run must follow a *finished*
champion run of the same partition, whichever partition that was.
"""

# No `from __future__ import annotations`: Dagster reads the context annotations at definition
# time and rejects string annotations.

from datetime import date

import dagster as dg

from tvs_pipeline.config import load_profile
from tvs_pipeline.defs.assets.tournament import tournament_skip_reason
from tvs_pipeline.defs.jobs import nightly_job, shadow_job, tournament_job
from tvs_pipeline.defs.shadow import CLI_LAUNCHED, LAUNCHER_TAG, FinishedRun, shadow_run_requests
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.lake.ledger import append_run_outcome
from tvs_pipeline.settings import load_settings

__all__ = [
    "record_run_failure",
    "record_run_success",
    "shadow_after_nightly",
    "tournament_after_nightly",
]


def _record_outcome(run: dg.DagsterRun, failure: str | None = None) -> dg.SkipReason | None:
    """Append a run's outcome to the ledger, unless ``tvs`` launched the run and recorded it."""
    if run.tags.get(LAUNCHER_TAG) == CLI_LAUNCHED:
        return dg.SkipReason(f"{run.run_id}: tvs recorded this run's outcome itself")
    ledger = load_settings().ledger
    append_run_outcome(ledger, run.run_id, run.job_name, run.tags, failure)
    return None


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="shadow_after_nightly",
    monitored_jobs=[nightly_job],
    request_job=shadow_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launch the challenger's shadow run for the partition a nightly run finished.",
)
def shadow_after_nightly(context: dg.RunStatusSensorContext):
    """One shadow run per successful single-partition nightly run (range runs are skipped)."""
    run = context.dagster_run
    requests, skipped = shadow_run_requests([FinishedRun(run.run_id, run.job_name, run.tags)])
    if not requests:
        return dg.SkipReason("; ".join(skipped))
    request = requests[0]
    return dg.RunRequest(
        run_key=request.run_key,
        partition_key=request.partition_key,
        tags={"tvs/champion_run_id": request.champion_run_id},
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="tournament_after_nightly",
    monitored_jobs=[nightly_job],
    request_job=tournament_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Run the profile's tournament grid as of the partition a nightly run finished, once "
        "the lake holds two rebalance dates (the stored books of earlier dates are reused)."
    ),
)
def tournament_after_nightly(context: dg.RunStatusSensorContext):
    """One tournament run per successful single-partition nightly run, as the shadow run."""
    run = context.dagster_run
    requests, skipped = shadow_run_requests([FinishedRun(run.run_id, run.job_name, run.tags)])
    if not requests:
        return dg.SkipReason("; ".join(skipped))
    request = requests[0]
    settings = load_settings()
    day = date.fromisoformat(request.partition_key)
    skip = tournament_skip_reason(
        LakeReader(settings.lake_root), load_profile(settings.profile), day
    )
    if skip:
        return dg.SkipReason(f"{request.partition_key}: {skip}")
    return dg.RunRequest(
        run_key=f"tournament:{request.run_key}", partition_key=request.partition_key
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="record_run_success",
    monitor_all_code_locations=False,
    monitored_jobs=[nightly_job, shadow_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Append each successful run's outcome to the audit ledger.",
)
def record_run_success(context: dg.RunStatusSensorContext):
    """Ledger record: the run, its job, partition and outcome."""
    return _record_outcome(context.dagster_run)


@dg.run_failure_sensor(
    name="record_run_failure",
    monitored_jobs=[nightly_job, shadow_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Append each failed run, with its failure message, to the audit ledger.",
)
def record_run_failure(context: dg.RunFailureSensorContext):
    """Ledger record: the failed run and the first line of its failure."""
    message = (context.failure_event.message or "").strip().splitlines()
    return _record_outcome(context.dagster_run, message[0] if message else "")
