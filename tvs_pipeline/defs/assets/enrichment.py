"""Enrichment and dedup stages: point-in-time features, then one instrument per asset."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.assets.normalization import lookback_dep
from tvs_pipeline.defs.partitions import (
    DAILY,
    DaySlices,
    day_rows,
    partition_days,
    stamp,
    stamp_days,
)
from tvs_pipeline.defs.resources import ComputeResource, LakeResource, ProfileResource
from tvs_pipeline.funnel.dedup import dedup_listings
from tvs_pipeline.funnel.enrichment import enrich_day
from tvs_pipeline.funnel.health import HealthStatus
from tvs_pipeline.funnel.normalization import read_bar_span

__all__ = ["dedup", "enrichment"]

CANDIDATE_COLUMNS = [
    "symbol",
    "sleeve",
    "scanner",
    "logic",
    "direction",
    "asset_class",
    "calendar",
    "sessions_per_year",
]


@dg.asset(
    partitions_def=DAILY,
    group_name="enrichment",
    kinds={"pandas", "parquet"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[lookback_dep()],
)
def enrichment(
    context: dg.AssetExecutionContext,
    discovery: pd.DataFrame,
    data_health: pd.DataFrame,
    profile: ProfileResource,
    lake: LakeResource,
    compute: ComputeResource,
) -> dg.Output[pd.DataFrame]:
    """Every discovered listing of day D: captured metadata and features from bars up to D."""
    run, days = profile.resolved().run, partition_days(context)
    span = read_bar_span(
        lake.reader(), discovery["symbol"].unique().tolist(), days[0], days[-1], run.lookback_days
    )
    found_on, health_on = DaySlices(discovery), DaySlices(data_health)
    tables = compute.map(
        enrich_day,
        [(found_on[day], health_on[day], day) for day in days],
        shared=(span, run.lookback_days),
    )
    frames = stamp_days(tables, days)
    table = pd.concat(frames, ignore_index=True)
    return dg.Output(
        table, metadata={"listings": dg.MetadataValue.int(len(day_rows(table, days[-1])))}
    )


@dg.asset(
    partitions_def=DAILY,
    group_name="dedup",
    kinds={"pandas", "parquet"},
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def dedup(
    context: dg.AssetExecutionContext, discovery: pd.DataFrame, enrichment: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """One primary listing per identity, logic and direction among day D's OK listings.

    Liquidity is the 20-day average traded value in USD; the other listings of the identity
    are kept as ``alternates``.
    """
    features_on, found_on, frames = DaySlices(enrichment), DaySlices(discovery), []
    for day in partition_days(context):
        features = features_on[day]
        ok = features.loc[features["status"] == HealthStatus.OK.value]
        # Two scanners of one logic and direction may both list a symbol: one candidate each.
        found = found_on[day][CANDIDATE_COLUMNS]
        found = found.drop_duplicates(["symbol", "logic", "direction"])
        candidates = found.merge(
            ok[["symbol", "adv_usd_20", "adx_14", "vol_ann", "sector"]], on="symbol", how="inner"
        )
        candidates = candidates.assign(value_traded_usd=candidates["adv_usd_20"])
        frames.append(stamp(dedup_listings(candidates), day))
    table = pd.concat(frames, ignore_index=True)
    last = day_rows(table, partition_days(context)[-1])
    return dg.Output(
        table,
        metadata={
            "candidates": dg.MetadataValue.int(len(last)),
            "unique_identities": dg.MetadataValue.int(int(last["identity"].nunique())),
        },
    )
