"""Simulation stage: each role's walk-forward, the champion's report and the promotion evidence."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.checks import NIGHTLY_FRESHNESS
from tvs_pipeline.defs.days import run_days
from tvs_pipeline.defs.partitions import daily_asset, day_rows, partition_days
from tvs_pipeline.defs.resources import (
    ComputeResource,
    LakeResource,
    ProfileResource,
    ReportResource,
)
from tvs_pipeline.defs.roles import Role, role_asset
from tvs_pipeline.simulation.metrics import performance_summary
from tvs_pipeline.simulation.promotion import PROMOTION_WINDOW, last_day_returns, promotion_day
from tvs_pipeline.simulation.report import report_day
from tvs_pipeline.simulation.walk_forward import walk_forward_ledger
from tvs_pipeline.synthesis.atoms import periods_per_year

__all__ = ["performance_report", "promotion_report", "simulation_asset"]

EVIDENCE = ("selection_parity", "simulation", "simulation_challenger")


def simulation_asset(role: Role) -> dg.AssetsDefinition:
    """One role's ``simulation``, walking that role's atoms forward."""

    @dg.asset(
        **role_asset("simulation", role, {"synthesis": "synthesis", "selection": "selection"})
    )
    def simulation(
        context: dg.AssetExecutionContext,
        synthesis: pd.DataFrame,
        selection: pd.DataFrame,
        profile: ProfileResource,
        compute: ComputeResource,
    ) -> dg.Output[pd.DataFrame]:
        """Daily P&L ledger of day D's atoms walked forward over the lookback, with friction.

        Weights decided at a rebalance close are traded and held from the next session; only
        data up to D is used.
        """
        shared = {"profile": profile.resolved()}
        sliced = {"atoms": synthesis, "decisions": selection}
        days = run_days(context, walk_forward_ledger, compute, sliced=sliced, shared=shared)
        per_year = periods_per_year(day_rows(synthesis, days.days[-1]))
        summary = performance_summary(days.last, per_year)
        return dg.Output(days.table, metadata={k: float(v) for k, v in summary.items()})

    return simulation


@dg.asset(**daily_asset("simulation", "markdown", freshness_policy=NIGHTLY_FRESHNESS))
def performance_report(
    context: dg.AssetExecutionContext,
    simulation: pd.DataFrame,
    synthesis: pd.DataFrame,
    allocation: pd.DataFrame,
    selection: pd.DataFrame,
    reports: ReportResource,
) -> dg.Output[pd.DataFrame]:
    """Performance metrics of day D's simulation, and the Markdown tear sheet beside the lake."""
    day = {"ledger": simulation, "atoms": synthesis, "weights": allocation, "decisions": selection}
    days = run_days(context, report_day, sliced=day, shared={"directory": reports.directory})
    path = str(days.last["report_path"].iloc[0])
    return dg.Output(days.table, metadata={"report": dg.MetadataValue.path(path)})


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
    """The last 20 days of parity and of both simulations: the evidence for a cutover."""
    config, reader, days = profile.resolved().selection, lake.reader(), partition_days(context)
    # One read per asset for the whole run (a backfill spans many windows), cut per day.
    first = (pd.Timestamp(days[0]) - pd.Timedelta(days=PROMOTION_WINDOW - 1)).date()
    parity, champion, challenger = (reader.read_days(name, first, days[-1]) for name in EVIDENCE)
    evidence = {
        "parity": parity,
        "champion": last_day_returns(champion),
        "challenger": last_day_returns(challenger),
        "champion_ledgers": champion,
        "engines": {"champion": config.champion, "challenger": config.challenger},
    }
    summaries = run_days(context, promotion_day, shared=evidence)
    table = summaries.last.to_markdown(index=False)
    return dg.Output(summaries.table, metadata={"report": dg.MetadataValue.md(table)})
