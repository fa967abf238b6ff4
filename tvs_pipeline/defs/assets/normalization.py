"""Normalization stage: bars and their fetch failures, the health gate, the returns panel."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.config.schema import ResolvedProfile
from tvs_pipeline.defs.days import DayRun, count_table, day_verdict, run_days
from tvs_pipeline.defs.partitions import (
    DAILY,
    SINGLE_RUN,
    bars_window,
    daily_asset,
    day_check,
    partition_days,
    retry_source_faults,
)
from tvs_pipeline.defs.resources import (
    ComputeResource,
    LakeResource,
    MarketResource,
    ProfileResource,
)
from tvs_pipeline.funnel.health import HealthStatus, judge_day, ok_share_by_sleeve
from tvs_pipeline.funnel.history import HistorySync, failure_table
from tvs_pipeline.funnel.normalization import last_stored_dates, panel_of_day, read_bar_span

__all__ = ["normalization_assets"]

BARS = (
    "Daily OHLCV fetched on day D: the full window for a new listing, a tail for a known one.\n\n"
    "A bar lives in the partition of the day it was fetched; every listing ever discovered keeps\n"
    "its history, and the overlap re-fetch picks up vendor revisions."
)
FETCH_FAILURES = "The listings whose bars the source could not deliver on day D, and why."
OK_SHARE = day_check(
    "ok_share_floor",
    "data_health",
    "Share of OK listings per sleeve must reach the profile's floor.",
    blocking=True,
)
GAP_FREE = day_check(
    "panel_gap_free",
    "normalization",
    "The panel holds only OK listings, finite returns and nothing after D.",
    blocking=True,
)


def normalization_assets(profile: ResolvedProfile) -> list[dg.AssetsDefinition]:
    """``bars`` with ``fetch_failures``, ``data_health`` and ``normalization``.

    Each reads a window of ``bars`` partitions as long as the profile's ``run.lookback_days``,
    and declares that window (`partitions.bars_window`).
    """
    lookback = profile.run.lookback_days
    fetched = [
        dg.AssetSpec(
            key,
            description=description,
            group_name="normalization",
            kinds={"pandas", "parquet"},
            # The plan of day D reads the bars stored before D: bars depends on itself.
            deps=["discovery", bars_window(lookback, before=True)],
        ).with_io_manager_key("io_manager")
        for key, description in (("bars", BARS), ("fetch_failures", FETCH_FAILURES))
    ]

    @dg.multi_asset(
        name="bars",
        specs=fetched,
        ins={"discovery": dg.AssetIn("discovery")},
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
    )
    def bars(
        context: dg.AssetExecutionContext,
        discovery: pd.DataFrame,
        profile: ProfileResource,
        market: MarketResource,
        lake: LakeResource,
    ):
        """Fetch day D's bars; keep the fetch failures beside them for the health policy."""
        resolved, run = profile.resolved(), profile.resolved().run
        last = last_stored_dates(lake.reader(), before=partition_days(context)[0])
        source = market.market(resolved)
        sync = HistorySync(source, last, run.lookback_days, run.revision_overlap_days)
        found = {"discovered": discovery}
        with retry_source_faults():
            days = run_days(
                context, sync.fetch_day, sliced=found, metadata=bar_counts, asset_key="bars"
            )
        yield dg.Output(days.table, output_name="bars", metadata=bars_metadata(days, sync))
        failures = failure_table(days.findings)
        failed = failures.groupby("date").size() if len(failures) else pd.Series(dtype="int64")
        for day in days.days:
            count = int(failed.get(pd.Timestamp(day), 0))
            context.add_asset_metadata(
                {"failures": dg.MetadataValue.int(count)},
                asset_key="fetch_failures",
                partition_key=day.isoformat(),
            )
        yield dg.Output(failures, output_name="fetch_failures")

    @dg.asset(**daily_asset("normalization", deps=[bars_window(lookback)], check_specs=[OK_SHARE]))
    def data_health(
        context: dg.AssetExecutionContext,
        discovery: pd.DataFrame,
        fetch_failures: pd.DataFrame,
        profile: ProfileResource,
        lake: LakeResource,
        compute: ComputeResource,
    ):
        """Every discovered listing of day D with its health status, counts and reason."""
        resolved, run = profile.resolved(), profile.resolved().run
        span = read_span(context, lake, discovery, run.lookback_days)
        policy = {"history_floor": run.history_floor, "policy": resolved.health}
        shared = {"span": span, "lookback_days": run.lookback_days, **policy}
        day = {"listings": discovery, "fetch_failures": fetch_failures}
        days = run_days(
            context, judge_day, compute, sliced=day, shared=shared, metadata=health_metadata
        )
        yield dg.Output(days.table, metadata=days.metadata)
        floor = {"floor": resolved.health.min_ok_share, **ok_share_metadata(days.last)}
        yield day_verdict(OK_SHARE, days.findings, key="sleeves_below_floor", **floor)

    @dg.asset(**daily_asset("normalization", deps=[bars_window(lookback)], check_specs=[GAP_FREE]))
    def normalization(
        context: dg.AssetExecutionContext,
        data_health: pd.DataFrame,
        profile: ProfileResource,
        lake: LakeResource,
        compute: ComputeResource,
    ):
        """Own-session daily returns of the OK listings over the lookback window ending D."""
        lookback_days = profile.resolved().run.lookback_days
        ok = data_health.loc[data_health["status"] == HealthStatus.OK.value]
        span = read_span(context, lake, ok, lookback_days)
        shared = {"span": span, "lookback_days": lookback_days}
        days = run_days(
            context, panel_of_day, compute, sliced={"listings": ok}, shared=shared,
            metadata=listing_count,
        )  # fmt: skip
        yield dg.Output(days.table, metadata=days.metadata)
        yield day_verdict(GAP_FREE, days.findings, key="problems")

    return [bars, data_health, normalization]


def read_span(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    listings: pd.DataFrame,
    lookback_days: int,
) -> pd.DataFrame:
    """The stored bars of ``listings`` for every window of the run's days, in one read."""
    days = partition_days(context)
    symbols = listings["symbol"].unique().tolist()
    return read_bar_span(lake.reader(), symbols, days[0], days[-1], lookback_days)


def bars_metadata(days: DayRun, sync: HistorySync) -> dict[str, object]:
    """The run's requests per kind (each day's own counts are `bar_counts`)."""
    return {
        "full_window_requests": dg.MetadataValue.int(sync.requests_["full"]),
        "tail_requests": dg.MetadataValue.int(sync.requests_["tail"]),
    }


def bar_counts(bars: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """Bars and listings fetched on one day."""
    listings = int(bars["symbol"].nunique()) if len(bars) else 0
    return {"bars": dg.MetadataValue.int(len(bars)), "listings": dg.MetadataValue.int(listings)}


def listing_count(frame: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """The listings of one day's frame."""
    return {"listings": dg.MetadataValue.int(int(frame["symbol"].nunique()) if len(frame) else 0)}


def ok_share_metadata(health: pd.DataFrame) -> dict[str, object]:
    """The OK share per sleeve of one day's health table, as a Markdown table."""
    return {"ok_share": dg.MetadataValue.md(ok_share_by_sleeve(health).to_markdown(index=False))}


def health_metadata(health: pd.DataFrame) -> dict[str, object]:
    """Listings per status (a number each, for the Plots tab, and a table), the worst listings."""
    counts = health.groupby("status").size() if len(health) else pd.Series(dtype="int64")
    numbers = {
        f"status_{status.value.lower()}": dg.MetadataValue.int(int(counts.get(status.value, 0)))
        for status in HealthStatus
    }
    worst = health.loc[health["status"] != HealthStatus.OK.value, ["symbol", "status", "reason"]]
    return {
        "listings": dg.MetadataValue.int(len(health)),
        "ok_listings": dg.MetadataValue.int(int(counts.get(HealthStatus.OK.value, 0))),
        **numbers,
        "status_counts": count_table(counts, "status", "listings"),
        "worst": dg.MetadataValue.md(worst.head(20).to_markdown(index=False) or "_none_"),
    }
