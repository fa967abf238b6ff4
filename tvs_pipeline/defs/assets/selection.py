"""Selection and synthesis stages: the profile engine's decisions, then strategy atoms."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

from datetime import date

import dagster as dg
import pandas as pd

from tvs_pipeline.config.schema import SelectionConfig
from tvs_pipeline.defs.partitions import DAILY, day_rows, partition_days, stamp
from tvs_pipeline.defs.resources import ProfileResource
from tvs_pipeline.funnel.history import assert_not_after
from tvs_pipeline.funnel.normalization import wide_returns
from tvs_pipeline.selection import funnel_counts, select, winners_table
from tvs_pipeline.synthesis import build_atoms

__all__ = ["select_day", "selection", "synthesis"]

# dedup's column -> the name select() reads
CANDIDATE_NAMES = {"value_traded_usd": "value_traded", "adx_14": "adx"}


def select_day(
    panel: pd.DataFrame, dedup: pd.DataFrame, config: SelectionConfig, as_of: date
) -> pd.DataFrame:
    """One day's decisions: the OK listings' returns panel and dedup's candidates, one engine."""
    assert_not_after(panel, as_of)
    candidates = dedup.rename(columns=CANDIDATE_NAMES)
    return select(wide_returns(panel), candidates, config.engine, **config.params())


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
    """Every candidate of day D: engine, decision, stage, cluster, score, probabilities, vetoes."""
    config, days = profile.resolved().selection, partition_days(context)
    frames = [
        stamp(select_day(day_rows(normalization, day), day_rows(dedup, day), config, day), day)
        for day in days
    ]
    table = pd.concat(frames, ignore_index=True)
    return dg.Output(table, metadata=selection_metadata(day_rows(table, days[-1])))


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
