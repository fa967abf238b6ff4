"""Enrichment stage: point-in-time features of every discovered listing."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.config.schema import ResolvedProfile
from tvs_pipeline.defs.assets.normalization import listing_count, read_span
from tvs_pipeline.defs.days import run_days
from tvs_pipeline.defs.partitions import bars_window, daily_asset
from tvs_pipeline.defs.resources import ComputeResource, LakeResource, ProfileResource
from tvs_pipeline.funnel.enrichment import enrich_day

__all__ = ["enrichment_asset"]


def enrichment_asset(profile: ResolvedProfile) -> dg.AssetsDefinition:
    """``enrichment``, reading the bars window of the profile's ``run.lookback_days``."""

    @dg.asset(**daily_asset("enrichment", deps=[bars_window(profile.run.lookback_days)]))
    def enrichment(
        context: dg.AssetExecutionContext,
        discovery: pd.DataFrame,
        data_health: pd.DataFrame,
        profile: ProfileResource,
        lake: LakeResource,
        compute: ComputeResource,
    ) -> dg.Output[pd.DataFrame]:
        """Every discovered listing of day D: captured metadata and features from bars up to D."""
        lookback_days = profile.resolved().run.lookback_days
        shared = {"span": read_span(context, lake, discovery, lookback_days)}
        day = {"discovery": discovery, "health": data_health}
        days = run_days(
            context,
            enrich_day,
            compute,
            sliced=day,
            shared={**shared, "lookback_days": lookback_days},
            metadata=listing_count,
        )
        return dg.Output(days.table, metadata=days.metadata)

    return enrichment
