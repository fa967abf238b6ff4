"""Discovery stage: the scanner snapshot of the day."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.partitions import DAILY, partition_days, retry_source_faults, stamp
from tvs_pipeline.defs.resources import MarketResource, ProfileResource
from tvs_pipeline.funnel.discovery import discover

__all__ = ["discovery"]


@dg.asset(
    partitions_def=DAILY,
    group_name="discovery",
    kinds={"pandas", "parquet"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec(
            "discovery_not_empty", asset="discovery", blocking=True, partitions_def=DAILY
        )
    ],
)
def discovery(context: dg.AssetExecutionContext, profile: ProfileResource, market: MarketResource):
    """Scanner rows of day D: listing, sleeve, scanner, logic, direction and scanner fields."""
    resolved = profile.resolved()
    source = market.market(resolved)
    days = partition_days(context)
    with retry_source_faults():
        frames = [stamp(discover(source, resolved.scanners, day), day) for day in days]
    rows = pd.concat(frames, ignore_index=True)
    empty_days = [day.isoformat() for day, frame in zip(days, frames, strict=True) if frame.empty]
    per_scanner = rows.groupby("scanner").size().to_dict()
    yield dg.Output(
        rows,
        metadata={
            "listings": dg.MetadataValue.int(int(rows["symbol"].nunique())),
            "rows_per_scanner": dg.MetadataValue.json({k: int(v) for k, v in per_scanner.items()}),
        },
    )
    yield dg.AssetCheckResult(
        check_name="discovery_not_empty",
        passed=not empty_days,
        metadata={
            "days": dg.MetadataValue.int(len(days)),
            "empty_days": dg.MetadataValue.json(empty_days),
        },
        description="A day with zero discovered rows stops the run: no silent empty universe.",
    )
