"""Selection and synthesis stages: the champion's decisions, then strategy atoms."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.partitions import DAILY, day_rows, partition_days, stamp
from tvs_pipeline.defs.resources import ProfileResource
from tvs_pipeline.funnel.normalization import wide_returns
from tvs_pipeline.selection import select
from tvs_pipeline.synthesis import build_atoms

__all__ = ["selection", "synthesis"]


def engine_params(engine: str, config) -> dict[str, object]:
    """The profile's parameters for a selection engine."""
    if engine == "momentum":
        return {"top_n": config.top_n, "min_obs": config.min_momentum_days}
    return {}


@dg.asset(
    partitions_def=DAILY,
    group_name="selection",
    kinds={"pandas", "parquet"},
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def selection(
    context: dg.AssetExecutionContext,
    dedup: pd.DataFrame,
    normalization: pd.DataFrame,
    profile: ProfileResource,
) -> dg.Output[pd.DataFrame]:
    """Every candidate of day D with the champion engine's decision, score and reason."""
    config = profile.resolved().selection
    params = engine_params(config.engine, config)
    frames = []
    for day in partition_days(context):
        returns = wide_returns(day_rows(normalization, day))
        frames.append(stamp(select(returns, day_rows(dedup, day), config.engine, **params), day))
    table = pd.concat(frames, ignore_index=True)
    last = day_rows(table, partition_days(context)[-1])
    winners = last.loc[last["selected"], ["symbol", "sleeve", "direction", "score"]]
    return dg.Output(
        table,
        metadata={
            "engine": dg.MetadataValue.text(config.engine),
            "selected": dg.MetadataValue.int(int(last["selected"].sum())),
            "winners": dg.MetadataValue.md(winners.to_markdown(index=False) or "_none_"),
        },
    )


@dg.asset(
    partitions_def=DAILY,
    group_name="synthesis",
    kinds={"pandas", "parquet"},
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def synthesis(
    context: dg.AssetExecutionContext, selection: pd.DataFrame, normalization: pd.DataFrame
) -> dg.Output[pd.DataFrame]:
    """Return streams of day D's strategy atoms; shorts are synthetic longs."""
    frames = [
        stamp(build_atoms(day_rows(selection, day), day_rows(normalization, day)), day)
        for day in partition_days(context)
    ]
    table = pd.concat(frames, ignore_index=True)
    last = day_rows(table, partition_days(context)[-1])
    return dg.Output(
        table, metadata={"atoms": dg.MetadataValue.int(int(last["atom_id"].nunique()))}
    )
