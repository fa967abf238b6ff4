"""Allocation stage: each role's target weights, decided at the close of the day."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.allocation.book import target_weights
from tvs_pipeline.defs.days import run_days
from tvs_pipeline.defs.resources import ComputeResource, ProfileResource
from tvs_pipeline.defs.roles import Role, role_asset

__all__ = ["allocation_asset"]


def allocation_asset(role: Role) -> dg.AssetsDefinition:
    """One role's ``allocation``, weighting that role's atoms."""

    @dg.asset(**role_asset("allocation", role, {"synthesis": "synthesis"}, "skfolio"))
    def allocation(
        context: dg.AssetExecutionContext,
        synthesis: pd.DataFrame,
        profile: ProfileResource,
        compute: ComputeResource,
    ) -> dg.Output[pd.DataFrame]:
        """Target weights decided at the close of D (held over D+1): per atom and per listing."""
        config = profile.resolved().allocation
        shared = {"config": config}
        days = run_days(
            context, target_weights, compute, sliced={"atoms": synthesis}, shared=shared
        )
        physical = days.last.loc[days.last["kind"] == "physical", ["symbol", "net_weight"]]
        weights = dg.MetadataValue.md(physical.to_markdown(index=False) or "_none_")
        engine = f"{config.engine}/{config.profile}"
        return dg.Output(days.table, metadata={"engine": engine, "weights": weights})

    return allocation
