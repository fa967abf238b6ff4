"""Selection stage: each role's decisions, and the parity of champion and challenger."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.days import count_table, day_verdict, metric, run_days
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
        days = run_days(
            context, select_day, compute, sliced=day, shared=shared, metadata=selection_metadata
        )
        role_text = dg.MetadataValue.text(role)
        return dg.Output(days.table, metadata={**days.metadata, "role": role_text})

    return selection


def selection_metadata(decisions: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """Funnel counts (each a number the Plots tab charts, and a table) and the winners."""
    counts = funnel_counts(decisions)
    winners = winners_table(decisions)
    vetoes = sum(v for k, v in counts.items() if k.startswith("veto_"))
    return {
        "engine": dg.MetadataValue.text(str(decisions["engine"].iloc[0]) if len(decisions) else ""),
        **{f"funnel_{k}": dg.MetadataValue.int(int(v)) for k, v in counts.items()},
        "selected": dg.MetadataValue.int(counts["selected"]),
        "ladder_stage": dg.MetadataValue.int(counts["ladder_stage"]),
        "vetoes_fired": dg.MetadataValue.int(int(vetoes)),
        "funnel": count_table(counts, "stage", "candidates"),
        "winners": dg.MetadataValue.md(
            winners.to_markdown(index=False, floatfmt=".4f") if len(winners) else "_none_"
        ),
    }


def parity_metadata(parity: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """One day's agreement of the two roles."""
    row = parity.iloc[0]
    return {k: metric(float(row[k]), 4) for k in ("jaccard", "spearman", "weight_l1")}


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
    days = run_days(context, day_parity, sliced=roles, metadata=parity_metadata)
    yield dg.Output(days.table, metadata=days.metadata)
    failing = days.table.loc[~days.table["passed"]]
    reasons = dict(zip(failing["date"].dt.strftime("%Y-%m-%d"), failing["reasons"], strict=True))
    yield day_verdict(PARITY, reasons, key="failing_days", severity=dg.AssetCheckSeverity.WARN)
