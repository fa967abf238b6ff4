"""Identity dedup stage: one instrument per economic asset, logic and direction."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.days import run_days
from tvs_pipeline.defs.partitions import daily_asset
from tvs_pipeline.funnel.dedup import dedup_day

__all__ = ["dedup"]


@dg.asset(**daily_asset("dedup"))
def dedup(
    context: dg.AssetExecutionContext, discovery: pd.DataFrame, enrichment: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """One primary listing per identity, logic and direction among day D's OK listings.

    Liquidity is the 20-day average traded value in USD; the other listings of the identity
    are kept as ``alternates``.
    """
    days = run_days(
        context, dedup_day, sliced={"discovery": discovery, "enrichment": enrichment},
        metadata=dedup_metadata,
    )  # fmt: skip
    return dg.Output(days.table, metadata=days.metadata)


def dedup_metadata(candidates: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """Candidates and unique identities of one day."""
    identities = int(candidates["identity"].nunique()) if len(candidates) else 0
    return {
        "candidates": dg.MetadataValue.int(len(candidates)),
        "unique_identities": dg.MetadataValue.int(identities),
    }
