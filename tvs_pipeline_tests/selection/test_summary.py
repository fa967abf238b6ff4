"""Funnel counts and the winners table, checked against a hand-made day of decisions."""

import pandas as pd

from tvs_pipeline.selection import funnel_counts, select, winners_table


def decisions_by_hand() -> pd.DataFrame:
    """Seven candidates whose counts are read off the table below.

    ======  =====  ====  ===========================  ====  =======  =====  ========
    symbol  n_obs  hard  vetoes                       clus  sel      stage  score
    ======  =====  ====  ===========================  ====  =======  =====  ========
    A       250    no    -                            1     yes      1      0.9
    B       250    no    -                            1     yes      2      0.7
    C       250    no    high_entropy                 2     no       0      0.4
    D       250    no    high_entropy, random_walk    2     yes      3      0.3
    E       30     yes   missing_data                 -1    no       0      NaN
    F       0      yes   missing_data, low_efficiency -1    no       0      NaN
    G       250    yes   failed_survival              3     no       0      0.2
    ======  =====  ====  ===========================  ====  =======  =====  ========
    """
    return pd.DataFrame(
        {
            "symbol": ["A", "B", "C", "D", "E", "F", "G"],
            "sleeve": ["crypto", "crypto", "eq", "eq", "crypto", "eq", "crypto"],
            "direction": ["LONG", "SHORT", "LONG", "LONG", "LONG", "SHORT", "LONG"],
            "n_obs": [250, 250, 250, 250, 30, 0, 250],
            "hard_veto": [False, False, False, False, True, True, True],
            "vetoes": [
                [],
                [],
                ["high_entropy"],
                ["high_entropy", "random_walk"],
                ["missing_data"],
                ["missing_data", "low_efficiency"],
                ["failed_survival"],
            ],
            "cluster": [1, 1, 2, 2, -1, -1, 3],
            "selected": [True, True, False, True, False, False, False],
            "stage": [1, 2, 0, 3, 0, 0, 0],
            "ladder_stage": [3] * 7,
            "score": [0.9, 0.7, 0.4, 0.3, float("nan"), float("nan"), 0.2],
            "rank": [1.0, 1.0, 2.0, 3.0, float("nan"), float("nan"), 4.0],
            "engine": ["htr_3_4"] * 7,
        }
    )


def test_funnel_counts_of_a_day_counted_by_hand():
    decisions = decisions_by_hand()
    before = decisions.copy()
    assert funnel_counts(decisions) == {
        "candidates": 7,
        "with_returns": 6,  # F has no returns
        "hard_vetoed": 3,  # E, F, G
        "soft_vetoed": 2,  # C and D: soft vetoes only
        "passed_vetoes": 2,  # A and B
        "clusters": 3,  # 1, 2, 3; -1 (not clustered) is not a cluster
        "selected": 3,  # A, B, D
        "selected_stage_1": 1,
        "selected_stage_2": 1,
        "selected_stage_3": 1,
        "selected_stage_4": 0,
        "ladder_stage": 3,
        "veto_missing_data": 2,  # E, F
        "veto_toxic_persistence": 0,
        "veto_failed_survival": 1,  # G
        "veto_high_entropy": 2,  # C, D
        "veto_low_efficiency": 1,  # F: a hard-vetoed row still counts its soft codes
        "veto_random_walk": 1,  # D
        "veto_persistent": 0,  # trend candidates: the other logics' vetoes never raise
        "veto_no_reversal": 0,
        "veto_slow_reversion": 0,
        "veto_rating_ignored": 0,
    }
    pd.testing.assert_frame_equal(decisions, before)


def test_winners_table_of_a_day_sorted_by_hand():
    table = winners_table(decisions_by_hand())
    expected = pd.DataFrame(
        {
            "symbol": ["A", "D", "B"],  # LONG by score (0.9, 0.3), then SHORT
            "sleeve": ["crypto", "eq", "crypto"],
            "direction": ["LONG", "LONG", "SHORT"],
            "cluster": [1, 2, 1],
            "stage": [1, 3, 2],
            "score": [0.9, 0.3, 0.7],
            "rank": [1.0, 3.0, 1.0],
        }
    )
    pd.testing.assert_frame_equal(table, expected)


def test_winners_with_equal_scores_are_ordered_by_symbol():
    decisions = decisions_by_hand().assign(
        symbol=["Z", "B", "C", "A", "E", "F", "G"], score=0.5, direction="LONG"
    )
    assert winners_table(decisions)["symbol"].tolist() == ["A", "B", "Z"]


def test_funnel_counts_agree_with_a_real_selection(panel, candidates):
    """On the synthetic panel: the stage counts partition the selected, the veto partition
    covers every candidate, and the totals match the decisions' own columns."""
    decisions = select(panel, candidates, "htr_3_4")
    counts = funnel_counts(decisions)
    assert counts["candidates"] == len(candidates) == counts["with_returns"] == 20
    assert counts["hard_vetoed"] + counts["soft_vetoed"] + counts["passed_vetoes"] == 20
    stages = [counts[f"selected_stage_{s}"] for s in (1, 2, 3, 4)]
    assert sum(stages) == counts["selected"] == int(decisions["selected"].sum()) > 0
    assert len(winners_table(decisions)) == counts["selected"]


def test_an_empty_day():
    empty = pd.DataFrame({"symbol": pd.Series(dtype="str"), "direction": pd.Series(dtype="str")})
    decisions = select(pd.DataFrame(), empty, "htr_3_4")
    counts = funnel_counts(decisions)
    assert counts["candidates"] == 0 and counts["selected"] == 0 and counts["ladder_stage"] == 0
    assert winners_table(decisions).empty
