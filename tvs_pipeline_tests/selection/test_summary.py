import pandas as pd

from tvs_pipeline.selection import funnel_counts, select, winners_table
from tvs_pipeline.selection.vetoes import VETO_CODES


def test_funnel_counts_add_up(panel, candidates):
    decisions = select(panel, candidates, "htr_3_4", min_pool=8)
    counts = funnel_counts(decisions)
    assert counts["candidates"] == len(candidates) == counts["with_returns"]
    assert counts["hard_vetoed"] + counts["soft_vetoed"] + counts["passed_vetoes"] == len(
        candidates
    )
    assert counts["selected"] == sum(counts[f"selected_stage_{s}"] for s in (1, 2, 3, 4))
    assert counts["selected"] == int(decisions["selected"].sum())
    assert counts["ladder_stage"] == int(decisions["ladder_stage"].iloc[0])
    assert counts["clusters"] == decisions["cluster"].nunique()
    for code in VETO_CODES:
        expected = int(decisions["vetoes"].map(lambda v, c=code: c in v).sum())
        assert counts[f"veto_{code}"] == expected


def test_winners_table(panel, candidates):
    decisions = select(panel, candidates, "htr_3_4", min_pool=8)
    table = winners_table(decisions)
    assert list(table.columns) == [
        "symbol",
        "sleeve",
        "direction",
        "cluster",
        "stage",
        "score",
        "rank",
    ]
    assert len(table) == decisions["selected"].sum()
    for _, group in table.groupby("direction"):
        assert group["score"].is_monotonic_decreasing


def test_an_empty_day():
    empty = pd.DataFrame({"symbol": pd.Series(dtype="str"), "direction": pd.Series(dtype="str")})
    decisions = select(pd.DataFrame(), empty, "htr_3_4")
    counts = funnel_counts(decisions)
    assert counts["candidates"] == 0 and counts["selected"] == 0 and counts["ladder_stage"] == 0
    assert winners_table(decisions).empty
