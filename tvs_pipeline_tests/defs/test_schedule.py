"""The nightly schedule picks the previous complete day."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from tvs_pipeline.config.schema import ScheduleConfig
from tvs_pipeline.definitions import ASSETS
from tvs_pipeline.defs.checks import latest_partition_fresh
from tvs_pipeline.defs.jobs import nightly_job, nightly_schedule
from tvs_pipeline.defs.resources import build_resources
from tvs_pipeline.settings import load_settings


def resolved(config: ScheduleConfig) -> dg.ScheduleDefinition:
    defs = dg.Definitions(
        assets=ASSETS,
        asset_checks=[latest_partition_fresh],
        jobs=[nightly_job],
        schedules=[nightly_schedule(config)],
        resources=build_resources(load_settings({"TVS_HOME": "/tmp/tvs-unused"})),
    )
    return defs.resolve_schedule_def("nightly_schedule")


@pytest.mark.parametrize(
    ("tick", "partition"),
    [
        (datetime(2026, 6, 30, 2, 0, tzinfo=UTC), "2026-06-29"),
        (datetime(2026, 1, 1, 2, 0, tzinfo=UTC), "2025-12-31"),
        (datetime(2026, 3, 2, 2, 0, tzinfo=UTC), "2026-03-01"),
    ],
    ids=["mid-year", "new-year", "after-february"],
)
def test_tick_runs_the_previous_complete_day(tick, partition):
    schedule = resolved(ScheduleConfig(hour=2, minute=0))
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert [r.partition_key for r in requests] == [partition]
    assert schedule.job_name == nightly_job.name
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_profile_sets_the_time():
    assert resolved(ScheduleConfig(hour=5, minute=30)).cron_schedule == "30 5 * * *"
