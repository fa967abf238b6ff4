"""Allocation stage: the day's market and regime, and each role's target weights."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.allocation.book import EXPOSURE_COLUMNS, target_weights
from tvs_pipeline.allocation.chart import weights_chart_markdown
from tvs_pipeline.allocation.market import market_day
from tvs_pipeline.defs.days import run_days
from tvs_pipeline.defs.partitions import daily_asset
from tvs_pipeline.defs.resources import ComputeResource, ProfileResource
from tvs_pipeline.defs.roles import Role, role_asset

__all__ = ["allocation_asset", "allocation_metadata", "market"]


@dg.asset(**daily_asset("allocation"))
def market(
    context: dg.AssetExecutionContext,
    normalization: pd.DataFrame,
    compute: ComputeResource,
    profile: ProfileResource,
) -> pd.DataFrame:
    """The universe's equal-weight index over the estimation window and day D's regime."""
    settings = profile.resolved().allocation
    days = run_days(
        context, market_day, compute, sliced={"panel": normalization},
        shared={"thresholds": settings.regime, "rows": settings.estimation_days},
    )  # fmt: skip
    regime = str(days.last["regime"].iloc[-1]) if len(days.last) else ""
    context.add_output_metadata({"regime": dg.MetadataValue.text(regime)})
    return days.table


def allocation_metadata(book: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """Engine, regime, caps, exposures and a weights chart of one day's book."""
    if book.empty:
        return {"atoms": dg.MetadataValue.int(0)}
    atoms = book.loc[book["kind"] == "atom"]
    physical = book.loc[book["kind"] == "physical", ["symbol", "net_weight"]]
    first = atoms.iloc[0]
    numbers = {name: dg.MetadataValue.float(float(book[name].iloc[0])) for name in EXPOSURE_COLUMNS}
    table = physical.sort_values("net_weight").to_markdown(index=False, floatfmt=".4f")
    title = f"{first['engine_used']}/{first['profile']}, {first['regime']}"
    return {
        "engine": dg.MetadataValue.text(f"{first['engine_used']}/{first['profile']}"),
        "regime": dg.MetadataValue.text(str(first["regime"])),
        "max_weight": dg.MetadataValue.float(float(first["max_weight"])),
        "cluster_cap": dg.MetadataValue.float(float(first["cluster_cap"])),
        "fallback_reason": dg.MetadataValue.text(str(first["fallback_reason"]) or "none"),
        **numbers,
        "weights_chart": dg.MetadataValue.md(weights_chart_markdown(physical, title)),
        "weights": dg.MetadataValue.md(table or "_none_"),
    }


def allocation_asset(role: Role) -> dg.AssetsDefinition:
    """One role's ``allocation``, weighting that role's atoms under the day's regime."""
    inputs = {"synthesis": "synthesis", "selection": "selection", "market": "market"}

    @dg.asset(**role_asset("allocation", role, inputs, "skfolio"))
    def allocation(
        context: dg.AssetExecutionContext,
        synthesis: pd.DataFrame,
        selection: pd.DataFrame,
        market: pd.DataFrame,
        profile: ProfileResource,
        compute: ComputeResource,
    ) -> dg.Output[pd.DataFrame]:
        """Target weights decided at the close of D (held over D+1): per atom and per listing."""
        config = profile.resolved().allocation
        sliced = {"atoms": synthesis, "decisions": selection, "market": market}
        days = run_days(context, target_weights, compute, sliced=sliced, shared={"config": config})
        return dg.Output(days.table, metadata=allocation_metadata(days.last))

    return allocation
