"""Freshness: a policy on the nightly's final assets, and a check on the latest partition.

A freshness policy shows a missed night in the UI but is not partition-aware (a re-run of an old
partition looks fresh); the check compares the newest materialised partition with the
latest complete day instead.
"""

# No `from __future__ import annotations`: Dagster reads the context annotation at definition
# time and rejects string annotations.

from datetime import timedelta

import dagster as dg

from tvs_pipeline.defs.partitions import DAILY

__all__ = ["NIGHTLY_FRESHNESS", "freshness_job", "freshness_schedule", "latest_partition_fresh"]

# By 06:00 UTC the nightly's outputs must have been written within the last 24 hours (the
# schedule runs at 02:00 by default: four hours for retries; 24 h is the most Dagster allows
# for a daily deadline).
NIGHTLY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=24)
)
REPORT_KEY = dg.AssetKey("performance_report")


@dg.asset_check(
    asset=REPORT_KEY,
    name="latest_partition_fresh",
    description="The newest materialised partition of the report is the latest complete day.",
)
def latest_partition_fresh(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """Pass when the newest report partition is the latest complete day (reads no data)."""
    expected = DAILY.get_last_partition_key()
    keys = context.instance.get_materialized_partitions(REPORT_KEY)
    newest = max(keys) if keys else None
    return dg.AssetCheckResult(
        passed=newest is not None and newest >= expected,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "newest_partition": dg.MetadataValue.text(newest or "none"),
            "expected": dg.MetadataValue.text(expected or "none"),
        },
    )


freshness_job = dg.define_asset_job(
    "freshness_audit",
    selection=dg.AssetSelection.checks(latest_partition_fresh),
    description="Checks that the nightly produced the latest complete day.",
)
freshness_schedule = dg.ScheduleDefinition(
    name="freshness_audit_schedule",
    job=freshness_job,
    cron_schedule="0 6 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
