"""Which shadow runs to launch after champion runs: a pure decision, no Dagster imports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["CLI_LAUNCHED", "LAUNCHER_TAG", "FinishedRun", "ShadowRequest", "shadow_run_requests"]

PARTITION_TAG = "dagster/partition"
BACKFILL_TAG = "dagster/backfill"
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
# `tvs run` / `tvs backfill` tag their runs: they run the shadow path and record the outcome
# themselves, so the sensors leave those runs alone (a daemon may be up beside the CLI).
LAUNCHER_TAG, CLI_LAUNCHED = "tvs/launched_by", "cli"


@dataclass(frozen=True)
class FinishedRun:
    """A champion run that finished successfully, as the sensor sees it."""

    run_id: str
    job_name: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class ShadowRequest:
    """A shadow run to launch: one partition, keyed by partition + champion run id."""

    partition_key: str
    run_key: str
    champion_run_id: str


def shadow_run_requests(
    finished: Iterable[FinishedRun], champion_job: str = "nightly"
) -> tuple[list[ShadowRequest], list[str]]:
    """Shadow runs for successful single-partition champion runs; reasons for the others.

    A run launched by ``tvs`` is skipped (the CLI follows it with the shadow run itself). A
    range run (single-run backfill) and a run that belongs to a backfill are skipped: the
    challenger is backfilled on its own, after the champion, as one run over the range. The run
    key ``<partition>:<champion run id>`` makes a re-evaluated tick idempotent.

    Returns
    -------
    tuple
        (requests, skipped) where ``skipped`` holds one line per run not shadowed.
    """
    requests, skipped = [], []
    for run in finished:
        tags = dict(run.tags)
        if run.job_name != champion_job:
            skipped.append(f"{run.run_id}: job {run.job_name} is not the champion job")
        elif tags.get(LAUNCHER_TAG) == CLI_LAUNCHED:
            skipped.append(f"{run.run_id}: launched by tvs, which runs its own shadow")
        elif BACKFILL_TAG in tags:
            skipped.append(f"{run.run_id}: part of backfill {tags[BACKFILL_TAG]}")
        elif any(tag in tags for tag in RANGE_TAGS) or PARTITION_TAG not in tags:
            skipped.append(f"{run.run_id}: a range run has no single partition")
        else:
            partition = tags[PARTITION_TAG]
            requests.append(ShadowRequest(partition, f"{partition}:{run.run_id}", run.run_id))
    return requests, skipped
