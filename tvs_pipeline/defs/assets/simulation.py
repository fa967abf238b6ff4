"""Simulation stage: out-of-sample track records per role, the tear sheet, the cutover evidence."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

from datetime import timedelta

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.carry import day_before, last_partition, session_returns, shift_days
from tvs_pipeline.defs.checks import NIGHTLY_FRESHNESS
from tvs_pipeline.defs.days import metric, run_days
from tvs_pipeline.defs.partitions import daily_asset, partition_days
from tvs_pipeline.defs.resources import LakeResource, ProfileResource, ReportResource
from tvs_pipeline.defs.roles import Role, asset_name, role_asset
from tvs_pipeline.market.point_in_time import SURVIVORSHIP
from tvs_pipeline.simulation.friction import FrictionModel
from tvs_pipeline.simulation.promotion import PROMOTION_WINDOW, promotion_day
from tvs_pipeline.simulation.report import (
    POINT_IN_TIME_DAYS,
    report_day,
    report_directory,
    survivorship_caveat,
    survivorship_days,
)
from tvs_pipeline.simulation.tearsheet import PERCENT_KEYS, render_tearsheet
from tvs_pipeline.simulation.track_record import TrackRecord

__all__ = ["performance_report", "promotion_report", "simulation_asset"]

EVIDENCE = ("selection_parity", "simulation", "simulation_challenger")


def simulation_asset(role: Role) -> dg.AssetsDefinition:
    """One role's ``simulation``: the out-of-sample track record of its stored books."""
    name, books = asset_name("simulation", role), asset_name("allocation", role)

    @dg.asset(
        **role_asset(
            "simulation",
            role,
            {"market": "market"},
            deps=[day_before(books), day_before(name), "normalization"],
        )
    )
    def simulation(
        context: dg.AssetExecutionContext,
        market: pd.DataFrame,
        profile: ProfileResource,
        lake: LakeResource,
    ) -> dg.Output[pd.DataFrame]:
        """Out-of-sample ledger: session D earned by the book decided at D−1, net of costs.

        The book is the stored allocation partition of D−1, never recomputed; the ledger
        compounds the row of D−1, so its days run in order.
        """
        reader, days = lake.reader(), partition_days(context)
        previous, previous_day = last_partition(reader, name, days[0])
        record = TrackRecord(
            FrictionModel.from_config(profile.resolved().simulation), previous, previous_day
        )
        decided = reader.read_days(books, days[0] - timedelta(days=1), days[-1] - timedelta(days=1))
        sliced = {
            "book": shift_days(decided),
            "session_returns": session_returns(reader, days),
            "market": market,
        }
        run = run_days(context, record.record_day, sliced=sliced, metadata=ledger_metadata)
        return dg.Output(run.table, metadata=run.metadata)

    return simulation


def ledger_metadata(row: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """One day of a track record: net return, equity, costs and exposures (out of sample).

    Returns, turnover and exposures in percent, the cost in basis points.
    """
    first = row.iloc[0]
    percents = {
        f"{label}_pct": metric(float(first[name]) * 100.0, 4)
        for name, label in (
            ("net", "net_return"),
            ("turnover", "turnover"),
            ("gross_exposure", "gross_exposure"),
            ("net_exposure", "net_exposure"),
        )
    }
    return {
        **percents,
        "equity": metric(float(first["equity"]), 6),
        "cost_bps": metric(float(first["cost"]) * 1e4),
        "session": dg.MetadataValue.bool(bool(first["session"])),
        "out_of_sample": dg.MetadataValue.bool(True),
    }


@dg.asset(**daily_asset("simulation", "markdown", freshness_policy=NIGHTLY_FRESHNESS))
def performance_report(
    context: dg.AssetExecutionContext,
    simulation: pd.DataFrame,
    lake: LakeResource,
    reports: ReportResource,
) -> dg.Output[pd.DataFrame]:
    """The champion's out-of-sample track record to day D: metrics and a tear sheet.

    Each day's metrics cover every session up to it (the ledger rows before the run are read
    from the lake); the tear sheet is drawn once, for the run's last day.
    """
    days = partition_days(context)
    reader = lake.reader()
    history = pd.concat(
        [reader.read("simulation", where="date < ?", params=[days[0]]), simulation],
        ignore_index=True,
    )
    # Whether each day's universe was rebuilt point in time (a live-source backfill).
    discovered = reader.read(
        "discovery", columns="distinct date, point_in_time", where="date <= ?", params=[days[-1]]
    )
    shared = {"history": history, "discovered": discovered}
    run = run_days(context, report_day, shared=shared, metadata=report_metadata)
    upto = history.loc[history["date"] <= pd.Timestamp(days[-1])]
    table = run.table.assign(report_path="")
    if not upto["session"].astype(bool).any():
        return dg.Output(table, metadata=run.metadata)
    weights = reader.read(
        "allocation",
        columns="date, symbol, net_weight",
        where="kind = 'physical' and date <= ?",
        params=[days[-1]],
    )
    first = pd.Timestamp(upto["date"].iloc[0]).date()
    caveat = survivorship_caveat(
        survivorship_days(discovered, first, days[-1]) if discovered is not None else []
    )
    sheet = render_tearsheet(
        upto,
        weights,
        title="champion",
        directory=report_directory(reports.directory, "champion", first, days[-1]),
        caveat=caveat,
    )
    # The page drawn by this run is the last day's; earlier days of a range have none.
    table.loc[table["date"] == pd.Timestamp(days[-1]), "report_path"] = str(sheet.html)
    page = {
        "tear_sheet": dg.MetadataValue.md(sheet.markdown),
        "report": dg.MetadataValue.path(str(sheet.html)),
        **({"survivorship": dg.MetadataValue.text(caveat)} if caveat else {}),
    }
    if len(days) == 1:
        return dg.Output(table, metadata={**run.metadata, **page})
    context.add_asset_metadata(page, partition_key=days[-1].isoformat())
    return dg.Output(table)


def report_metadata(metrics: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """One day's out-of-sample metrics: returns and risks in percent, ratios as they are."""
    values = dict(zip(metrics["metric"], metrics["value"], strict=True))
    numbers = {}
    for key, value in values.items():
        if key in PERCENT_KEYS:
            numbers[f"{key}_pct"] = metric(float(value) * 100.0)
        elif key in ("sessions", "n_periods"):
            numbers[key] = dg.MetadataValue.int(int(value))
        elif key == POINT_IN_TIME_DAYS:  # days of the span whose universe was rebuilt
            numbers[key] = dg.MetadataValue.int(int(value))
            numbers["survivorship"] = dg.MetadataValue.text(
                f"{int(value)} days of the span discovered point in time: {SURVIVORSHIP}"
            )
        else:
            numbers[key] = metric(float(value), 4)
    return {**numbers, "out_of_sample": dg.MetadataValue.bool(True)}


@dg.asset(
    **daily_asset(
        "simulation",
        deps=[
            dg.AssetDep(
                name,
                partition_mapping=dg.TimeWindowPartitionMapping(
                    start_offset=-(PROMOTION_WINDOW - 1)
                ),
            )
            for name in EVIDENCE
        ],
    )
)
def promotion_report(
    context: dg.AssetExecutionContext, lake: LakeResource, profile: ProfileResource
) -> dg.Output[pd.DataFrame]:
    """Both roles' out-of-sample track records over the last 20 days: the cutover evidence."""
    config, reader, days = profile.resolved().selection, lake.reader(), partition_days(context)
    # One read per asset for the whole run (a backfill spans many windows), cut per day.
    first = (pd.Timestamp(days[0]) - pd.Timedelta(days=PROMOTION_WINDOW - 1)).date()
    parity, champion, challenger = (reader.read_days(name, first, days[-1]) for name in EVIDENCE)
    evidence = {
        "parity": parity,
        "champion": champion,
        "challenger": challenger,
        "engines": {"champion": config.champion, "challenger": config.challenger},
    }
    summaries = run_days(context, promotion_day, shared=evidence, metadata=promotion_metadata)
    return dg.Output(summaries.table, metadata=summaries.metadata)


def promotion_metadata(summary: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """One day's promotion evidence as a table."""
    return {"report": dg.MetadataValue.md(summary.to_markdown(index=False, floatfmt=".4g"))}
