"""Normalization stage: bars, the health table with its blocking gate, the returns panel."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.partitions import (
    DAILY,
    DaySlices,
    day_rows,
    partition_days,
    retry_source_faults,
    stamp,
)
from tvs_pipeline.defs.resources import (
    ComputeResource,
    LakeResource,
    MarketResource,
    ProfileResource,
)
from tvs_pipeline.funnel.health import HealthStatus, health_of_day, ok_share_by_sleeve
from tvs_pipeline.funnel.history import (
    advance_last_stored,
    fetch_bars,
    fetch_failures,
    plan_requests,
)
from tvs_pipeline.funnel.normalization import last_stored_dates, panel_of_day, read_bar_span

__all__ = ["bars", "data_health", "lookback_dep", "normalization"]

LISTING_COLUMNS = ["symbol", "sleeve", "asset_class", "calendar"]


def lookback_dep(lookback_days: int = 500) -> dg.AssetDep:
    """The bars window an asset of day D reads: partitions D-499..D, never after D."""
    return dg.AssetDep(
        "bars",
        partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-(lookback_days - 1)),
    )


@dg.asset(
    partitions_def=DAILY,
    group_name="normalization",
    kinds={"pandas", "parquet"},
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def bars(
    context: dg.AssetExecutionContext,
    discovery: pd.DataFrame,
    profile: ProfileResource,
    market: MarketResource,
    lake: LakeResource,
) -> dg.Output[pd.DataFrame]:
    """Daily OHLCV fetched on day D: the full window for a new listing, a tail for a known one.

    A bar lives in the partition of the day it was fetched; every listing ever discovered keeps
    its history, and the overlap re-fetch picks up vendor revisions.
    """
    resolved = profile.resolved()
    source = market.market(resolved)
    days = partition_days(context)
    last = last_stored_dates(lake.reader(), before=days[0])
    found_on, frames, full, tail, failures = DaySlices(discovery), [], 0, 0, {}
    for day in days:
        found = found_on[day].drop_duplicates("symbol")
        symbols = found["symbol"].tolist()
        requests = plan_requests(
            symbols, last, day, resolved.run.lookback_days, resolved.run.revision_overlap_days
        )
        classes = dict(zip(found["symbol"], found["asset_class"], strict=True))
        with retry_source_faults():
            fetched = fetch_bars(source, requests, day, classes)
        last = advance_last_stored(last, fetched)
        failed = fetch_failures(source)
        if failed:
            failures[day.isoformat()] = failed
        full += int((requests["kind"] == "full").sum()) if len(requests) else 0
        tail += int((requests["kind"] == "tail").sum()) if len(requests) else 0
        frames.append(stamp(fetched, day))
    rows = pd.concat(frames, ignore_index=True)
    return dg.Output(
        rows,
        metadata={
            "listings": dg.MetadataValue.int(int(rows["symbol"].nunique())),
            "full_window_requests": dg.MetadataValue.int(full),
            "tail_requests": dg.MetadataValue.int(tail),
            "fetch_failures": dg.MetadataValue.json(failures),
        },
    )


def recorded_fetch_failures(context: dg.AssetExecutionContext, day) -> dict[str, str]:
    """The symbols the `bars` step of this day could not fetch, from its materialisation."""
    found = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("bars"), asset_partitions=[day.isoformat()]),
        limit=1,
    )
    if not found.records:
        return {}
    metadata = found.records[0].asset_materialization.metadata
    value = metadata.get("fetch_failures")
    return dict((value.value or {}).get(day.isoformat(), {})) if value is not None else {}


@dg.asset(
    partitions_def=DAILY,
    group_name="normalization",
    kinds={"pandas", "parquet"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[lookback_dep()],
    check_specs=[
        dg.AssetCheckSpec(
            "ok_share_floor", asset="data_health", blocking=True, partitions_def=DAILY
        )
    ],
)
def data_health(
    context: dg.AssetExecutionContext,
    discovery: pd.DataFrame,
    profile: ProfileResource,
    lake: LakeResource,
    compute: ComputeResource,
):
    """Every discovered listing of day D with its health status, counts and reason."""
    resolved = profile.resolved()
    run, days = resolved.run, partition_days(context)
    span = read_bar_span(
        lake.reader(), discovery["symbol"].unique().tolist(), days[0], days[-1], run.lookback_days
    )
    found_on, frames, failures = DaySlices(discovery), [], {}
    tables = compute.map(
        health_of_day,
        [
            (found_on[day][LISTING_COLUMNS], day, recorded_fetch_failures(context, day))
            for day in days
        ],
        shared=(span, run.lookback_days, run.history_floor, resolved.health),
    )
    for day, health in zip(days, tables, strict=True):
        shares = ok_share_by_sleeve(health)
        low = shares.loc[shares["ok_share"] < resolved.health.min_ok_share]
        if len(low):
            failures[day.isoformat()] = {
                r.sleeve: round(float(r.ok_share), 3) for r in low.itertuples()
            }
        frames.append(stamp(health, day))
    table = pd.concat(frames, ignore_index=True)
    last_day = day_rows(table, days[-1])
    counts = last_day.groupby("status").size().to_dict()
    yield dg.Output(
        table,
        metadata={
            "status_counts": dg.MetadataValue.json({k: int(v) for k, v in counts.items()}),
            "ok_listings": dg.MetadataValue.int(int(counts.get(HealthStatus.OK.value, 0))),
            "worst": dg.MetadataValue.md(
                last_day.loc[
                    last_day["status"] != HealthStatus.OK.value, ["symbol", "status", "reason"]
                ]
                .head(20)
                .to_markdown(index=False)
                or "_none_"
            ),
        },
    )
    yield dg.AssetCheckResult(
        check_name="ok_share_floor",
        passed=not failures,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "floor": dg.MetadataValue.float(resolved.health.min_ok_share),
            "sleeves_below_floor": dg.MetadataValue.json(failures),
            "ok_share": dg.MetadataValue.md(ok_share_by_sleeve(last_day).to_markdown(index=False)),
        },
        description="Share of OK listings per sleeve must reach the profile's floor.",
    )


@dg.asset(
    partitions_def=DAILY,
    group_name="normalization",
    kinds={"pandas", "parquet"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[lookback_dep()],
    check_specs=[
        dg.AssetCheckSpec(
            "panel_gap_free", asset="normalization", blocking=True, partitions_def=DAILY
        )
    ],
)
def normalization(
    context: dg.AssetExecutionContext,
    data_health: pd.DataFrame,
    profile: ProfileResource,
    lake: LakeResource,
    compute: ComputeResource,
):
    """Own-session daily returns of the OK listings over the lookback window ending D."""
    run, days = profile.resolved().run, partition_days(context)
    ok = data_health.loc[data_health["status"] == HealthStatus.OK.value]
    span = read_bar_span(
        lake.reader(), ok["symbol"].unique().tolist(), days[0], days[-1], run.lookback_days
    )
    ok_on, frames, problems = DaySlices(ok), [], {}
    panels = compute.map(
        panel_of_day,
        [(ok_on[day]["symbol"].tolist(), day) for day in days],
        shared=(span, run.lookback_days),
    )
    for day, (panel, found) in zip(days, panels, strict=True):
        if found:
            problems[day.isoformat()] = found
        frames.append(stamp(panel, day))
    panel = pd.concat(frames, ignore_index=True)
    yield dg.Output(
        panel,
        metadata={
            "listings": dg.MetadataValue.int(int(day_rows(panel, days[-1])["symbol"].nunique()))
        },
    )
    yield dg.AssetCheckResult(
        check_name="panel_gap_free",
        passed=not problems,
        metadata={"problems": dg.MetadataValue.json(problems)},
        description="The panel holds only OK listings, finite returns and nothing after D.",
    )
