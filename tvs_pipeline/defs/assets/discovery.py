"""Discovery stage: the scanner snapshot of the day."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

from datetime import date

import dagster as dg
import pandas as pd

from tvs_pipeline.config.schema import ResolvedScanner
from tvs_pipeline.defs.days import count_table, day_verdict, run_days
from tvs_pipeline.defs.partitions import daily_asset, day_check, retry_source_faults
from tvs_pipeline.defs.resources import MarketResource, ProfileResource
from tvs_pipeline.funnel.discovery import discover
from tvs_pipeline.funnel.source import MarketSource
from tvs_pipeline.market.point_in_time import SURVIVORSHIP

__all__ = ["POINT_IN_TIME", "discover_day", "discovery"]

# The column that says a day's universe was rebuilt point in time from today's listings (the
# live source's past days, `market.tradingview.past`): the performance report reads it.
POINT_IN_TIME = "point_in_time"
NOT_EMPTY = day_check(
    "discovery_not_empty",
    "discovery",
    "A day with zero discovered rows stops the run: no silent empty universe.",
    blocking=True,
)


@dg.asset(**daily_asset("discovery", check_specs=[NOT_EMPTY]))
def discovery(context: dg.AssetExecutionContext, profile: ProfileResource, market: MarketResource):
    """Scanner rows of day D: listing, sleeve, scanner, logic, direction and scanner fields.

    ``point_in_time`` is true on a day the source answered from a universe rebuilt from today's
    listings (a past day on the live source): its metadata then carries the survivorship
    caveat, and so does every performance report whose span holds the day.
    """
    resolved = profile.resolved()
    scan = {"market": market.market(resolved), "scanners": resolved.scanners}
    with retry_source_faults():
        days = run_days(context, discover_day, shared=scan, metadata=discovery_metadata)
    yield dg.Output(days.table, metadata=days.metadata)
    yield day_verdict(NOT_EMPTY, days.empty_days(), key="empty_days", days=len(days.days))


def discover_day(
    market: MarketSource, scanners: list[ResolvedScanner], as_of: date
) -> pd.DataFrame:
    """`discover`'s rows of ``as_of`` and whether the source rebuilt that day's universe.

    A source that answers past days point in time keeps the days it so answered
    (``TradingViewSource.past.days``); the demo market answers every day as it was.
    """
    rows = discover(market, scanners, as_of)
    rebuilt = getattr(getattr(market, "past", None), "days", ())
    return rows.assign(**{POINT_IN_TIME: as_of in rebuilt})


def discovery_metadata(rows: pd.DataFrame) -> dict[str, object]:
    """One day's listings, rows per scanner (a table) and point-in-time flag.

    A day whose universe was rebuilt point in time also carries the survivorship caveat.
    """
    per_scanner = rows.groupby("scanner").size() if len(rows) else pd.Series(dtype="int64")
    rebuilt = bool(len(rows) and rows[POINT_IN_TIME].any())
    caveat = {"survivorship": dg.MetadataValue.text(SURVIVORSHIP)} if rebuilt else {}
    return {
        "listings": dg.MetadataValue.int(int(rows["symbol"].nunique()) if len(rows) else 0),
        "rows_per_scanner": count_table(per_scanner, "scanner", "rows"),
        POINT_IN_TIME: dg.MetadataValue.bool(rebuilt),
        **caveat,
    }
