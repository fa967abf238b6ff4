"""Selection stage: each role's decisions, and the parity of champion and challenger."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.days import day_verdict, run_days
from tvs_pipeline.defs.partitions import daily_asset, day_check
from tvs_pipeline.defs.resources import ComputeResource, ProfileResource
from tvs_pipeline.defs.roles import Role, role_asset
from tvs_pipeline.selection.day import select_day
from tvs_pipeline.selection.parity import day_parity
from tvs_pipeline.selection.summary import funnel_counts, winners_table

__all__ = ["selection_asset", "selection_metadata", "selection_parity"]


def selection_asset(role: Role, engine: str) -> dg.AssetsDefinition:
    """One role's ``selection``; ``engine`` (the profile's, when built) is the code version.

    Which engine plays the role is read from the profile at run time. The code version
    changes on a cutover, so Dagster shows the role's partitions as stale until they are
    re-materialised with the new engine.
    """
    inputs = {"dedup": "dedup", "normalization": "normalization"}

    @dg.asset(**role_asset("selection", role, inputs, code_version=engine))
    def selection(
        context: dg.AssetExecutionContext,
        dedup: pd.DataFrame,
        normalization: pd.DataFrame,
        profile: ProfileResource,
        compute: ComputeResource,
    ) -> dg.Output[pd.DataFrame]:
        """Every candidate of day D: this role's decision, stage, cluster, score, vetoes.

        The engine is the one the profile gives this role, read when the run starts.
        """
        config = profile.resolved().selection
        shared = {"params": config.params(), "engine": config.engine_for(role)}
        day = {"panel": normalization, "dedup": dedup}
        days = run_days(context, select_day, compute, sliced=day, shared=shared)
        metadata = {**selection_metadata(days.last), "role": dg.MetadataValue.text(role)}
        return dg.Output(days.table, metadata=metadata)

    return selection


def selection_metadata(decisions: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """Funnel counts and the winners table of one day, as Dagster metadata."""
    counts = funnel_counts(decisions)
    winners = winners_table(decisions)
    return {
        "engine": dg.MetadataValue.text(str(decisions["engine"].iloc[0]) if len(decisions) else ""),
        "selected": dg.MetadataValue.int(counts["selected"]),
        "ladder_stage": dg.MetadataValue.int(counts["ladder_stage"]),
        "funnel": dg.MetadataValue.json(counts),
        "winners": dg.MetadataValue.md(
            winners.to_markdown(index=False, floatfmt=".4f") if len(winners) else "_none_"
        ),
    }


PARITY = day_check(
    "parity_within_thresholds",
    "selection_parity",
    "Jaccard >= 0.8, Spearman >= 0.9, weight L1 <= 0.25 (docs/methodology.md).",
)


@dg.asset(**daily_asset("selection", check_specs=[PARITY]))
def selection_parity(
    context: dg.AssetExecutionContext,
    selection: pd.DataFrame,
    selection_challenger: pd.DataFrame,
    allocation: pd.DataFrame,
    allocation_challenger: pd.DataFrame,
):
    """Champion against challenger on day D: selected-set overlap, score ranks, book distance."""
    books = {"champion_weights": allocation, "challenger_weights": allocation_challenger}
    roles = {"champion": selection, "challenger": selection_challenger, **books}
    days = run_days(context, day_parity, sliced=roles)
    last = days.last.iloc[0]
    yield dg.Output(
        days.table, metadata={k: float(last[k]) for k in ("jaccard", "spearman", "weight_l1")}
    )
    failing = days.table.loc[~days.table["passed"]]
    reasons = dict(zip(failing["date"].dt.strftime("%Y-%m-%d"), failing["reasons"], strict=True))
    yield day_verdict(PARITY, reasons, key="failing_days", severity=dg.AssetCheckSeverity.WARN)
