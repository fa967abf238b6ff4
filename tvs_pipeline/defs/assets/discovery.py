"""Discovery stage: the scanner snapshot of the day."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.days import count_table, day_verdict, run_days
from tvs_pipeline.defs.partitions import daily_asset, day_check, retry_source_faults
from tvs_pipeline.defs.resources import MarketResource, ProfileResource
from tvs_pipeline.funnel.discovery import discover

__all__ = ["discovery"]

NOT_EMPTY = day_check(
    "discovery_not_empty",
    "discovery",
    "A day with zero discovered rows stops the run: no silent empty universe.",
    blocking=True,
)


@dg.asset(**daily_asset("discovery", check_specs=[NOT_EMPTY]))
def discovery(context: dg.AssetExecutionContext, profile: ProfileResource, market: MarketResource):
    """Scanner rows of day D: listing, sleeve, scanner, logic, direction and scanner fields."""
    resolved = profile.resolved()
    scan = {"market": market.market(resolved), "scanners": resolved.scanners}
    with retry_source_faults():
        days = run_days(context, discover, shared=scan, metadata=discovery_metadata)
    yield dg.Output(days.table, metadata=days.metadata)
    yield day_verdict(NOT_EMPTY, days.empty_days(), key="empty_days", days=len(days.days))


def discovery_metadata(rows: pd.DataFrame) -> dict[str, object]:
    """Listings and rows per scanner of one day's scanner rows (the counts as a table)."""
    per_scanner = rows.groupby("scanner").size() if len(rows) else pd.Series(dtype="int64")
    return {
        "listings": dg.MetadataValue.int(int(rows["symbol"].nunique()) if len(rows) else 0),
        "rows_per_scanner": count_table(per_scanner, "scanner", "rows"),
    }
