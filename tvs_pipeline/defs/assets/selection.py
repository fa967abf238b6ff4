"""Selection's Dagster metadata: funnel counts and the winners table of a day."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.selection import funnel_counts, winners_table

__all__ = ["selection_metadata"]


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
