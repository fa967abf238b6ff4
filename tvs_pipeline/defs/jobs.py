"""Jobs and schedules: the nightly champion path and its daily schedule."""

from __future__ import annotations

import dagster as dg

from tvs_pipeline.config.schema import ScheduleConfig
from tvs_pipeline.defs.checks import latest_partition_fresh

__all__ = [
    "NIGHTLY_ASSETS",
    "SHADOW_ASSETS",
    "TOURNAMENT_ASSETS",
    "nightly_job",
    "nightly_schedule",
    "shadow_job",
    "tournament_job",
]

NIGHTLY_ASSETS = [
    "discovery",
    "bars",
    "fetch_failures",
    "data_health",
    "normalization",
    "enrichment",
    "dedup",
    "selection",
    "synthesis",
    "market",
    "allocation",
    "simulation",
    "performance_report",
]

# The funnel is a chain: steps run one after another, so one process avoids paying Python
# and library start-up (~3 s) per step that a multiprocess executor would.
nightly_job = dg.define_asset_job(
    "nightly",
    # The freshness check audits the latest partition; it runs in its own job, not per night.
    selection=dg.AssetSelection.assets(*NIGHTLY_ASSETS)
    - dg.AssetSelection.checks(latest_partition_fresh),
    executor_def=dg.in_process_executor,
    description="The champion path for one as-of date, discovery to performance report.",
    # dagster.yaml limits runs tagged tvs/path=champion to one at a time.
    tags={"tvs/path": "champion"},
)


SHADOW_ASSETS = [
    "selection_challenger",
    "synthesis_challenger",
    "allocation_challenger",
    "simulation_challenger",
    "selection_parity",
    "promotion_report",
]

shadow_job = dg.define_asset_job(
    "shadow",
    selection=dg.AssetSelection.assets(*SHADOW_ASSETS),
    executor_def=dg.in_process_executor,
    description="The challenger path for one as-of date, run after the champion's nightly.",
    tags={"tvs/path": "challenger"},
)


TOURNAMENT_ASSETS = ["tournament", "tournament_returns", "tournament_regimes", "tournament_books"]

tournament_job = dg.define_asset_job(
    "tournament",
    selection=dg.AssetSelection.assets(*TOURNAMENT_ASSETS),
    executor_def=dg.in_process_executor,
    description=(
        "The walk-forward tournament as of one day, on demand: tag tvs/tournament_start and "
        "tvs/tournament_grid to choose the range's start and the grid."
    ),
    tags={"tvs/path": "research"},
)


def nightly_schedule(schedule: ScheduleConfig) -> dg.ScheduleDefinition:
    """Run ``nightly`` every day for the previous complete day (stopped until turned on)."""
    return dg.build_schedule_from_partitioned_job(
        nightly_job,
        hour_of_day=schedule.hour,
        minute_of_hour=schedule.minute,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        name="nightly_schedule",
    )
