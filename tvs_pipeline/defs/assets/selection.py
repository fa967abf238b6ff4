"""Selection for one day: the shell's call into the engines, and its Dagster metadata."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

from datetime import date

import dagster as dg
import pandas as pd

from tvs_pipeline.config.schema import SelectionConfig
from tvs_pipeline.funnel.history import assert_not_after
from tvs_pipeline.funnel.normalization import wide_returns
from tvs_pipeline.selection import funnel_counts, select, winners_table

__all__ = ["CANDIDATE_NAMES", "select_day", "selection_metadata"]

# dedup's column -> the name select() reads
CANDIDATE_NAMES = {"value_traded_usd": "value_traded", "adx_14": "adx"}


def select_day(
    panel: pd.DataFrame,
    dedup: pd.DataFrame,
    config: SelectionConfig,
    as_of: date,
    engine: str | None = None,
) -> pd.DataFrame:
    """One day's decisions from the OK listings' panel and dedup's candidates.

    The engine is the champion's unless named.
    """
    assert_not_after(panel, as_of)
    candidates = dedup.rename(columns=CANDIDATE_NAMES)
    return select(wide_returns(panel), candidates, engine or config.engine, **config.params())


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
