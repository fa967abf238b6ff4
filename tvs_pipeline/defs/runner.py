"""Run the nightly job in-process on the shared instance (what `tvs run` and `tvs backfill` do)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from tvs_pipeline.definitions import build_definitions
from tvs_pipeline.defs.partitions import DAILY
from tvs_pipeline.settings import Settings

__all__ = ["DAGSTER_YAML", "RunOutcome", "partition_bounds", "prepare_instance", "run_nightly"]

DAGSTER_YAML = """\
# Written by `tvs` on first use: the instance shared by `tvs` and `dagster dev`.
telemetry:
  enabled: false
nux:
  enabled: false
"""


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


def partition_bounds() -> tuple[str, str]:
    """The first and the latest complete partition keys."""
    keys = DAILY.get_partition_keys()
    return keys[0], keys[-1]


def run_nightly(
    settings: Settings,
    *,
    partition_key: str | None = None,
    partition_range: tuple[str, str] | None = None,
    **options: object,
) -> RunOutcome:
    """Execute ``nightly`` for one partition or, as a single run, for a range of partitions."""
    home = prepare_instance(settings)
    defs = build_definitions(settings, **options)
    job = defs.resolve_job_def("nightly")
    tags = {}
    if partition_range is not None:
        tags = {
            "dagster/asset_partition_range_start": partition_range[0],
            "dagster/asset_partition_range_end": partition_range[1],
        }
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = job.execute_in_process(
            instance=instance,
            partition_key=partition_key,
            tags=tags,
            run_config={"loggers": {"progress": {}}},
            raise_on_error=False,
        )
    if result.success:
        return RunOutcome(result.run_id, True)
    failures = [event for event in result.all_events if event.is_step_failure]
    if not failures:
        return RunOutcome(result.run_id, False, "run failed")
    error = failures[0].step_failure_data.error
    cause = error.cause or error
    message = (cause.message or error.message).strip().splitlines()[-1]
    return RunOutcome(result.run_id, False, f"{failures[0].step_key}: {message}")
