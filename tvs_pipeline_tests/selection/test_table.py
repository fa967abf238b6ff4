"""The selection output table (tvs_pipeline/selection/table.py): candidates, ranks, assembly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.selection.features import FEATURE_COLUMNS
from tvs_pipeline.selection.table import (
    PROBABILITY_COLUMNS,
    decision_table,
    prepare_candidates,
    rank_within_direction,
)

NAN = float("nan")


def features_of(symbols, directions, n_obs) -> pd.DataFrame:
    return pd.DataFrame({"symbol": symbols, "direction": directions, "n_obs": n_obs})


def test_ranks_within_each_direction_by_hand():
    features = features_of(
        ["C", "A", "B", "D", "E", "F"],
        ["LONG", "LONG", "LONG", "SHORT", "LONG", "SHORT"],
        [100, 100, 100, 100, 0, 100],
    )
    score = pd.Series([0.9, 0.9, 0.5, 0.3, 0.99, NAN])
    ranks = rank_within_direction(score, features)
    # LONG: A and C tie at 0.9 (A first by symbol), then B; E has no returns: no rank despite
    # the best score. SHORT: D first; F has no score: no rank.
    np.testing.assert_array_equal(ranks.to_numpy(), [2.0, 1.0, 3.0, 1.0, NAN, NAN])
    assert ranks.dtype == "float64" and ranks.index.equals(features.index)


def test_ranks_keep_the_features_index():
    features = features_of(["A", "B"], ["LONG", "LONG"], [10, 10]).set_axis([7, 3])
    ranks = rank_within_direction(pd.Series([0.1, 0.2], index=[7, 3]), features)
    assert ranks.to_dict() == {7: 2.0, 3: 1.0}


def test_prepare_candidates_resets_the_index_and_keeps_the_columns():
    candidates = pd.DataFrame(
        {"symbol": ["A", "B"], "direction": ["LONG", "SHORT"], "adx": [20.0, 30.0]}, index=[5, 9]
    )
    before = candidates.copy()
    out = prepare_candidates(candidates)
    assert out.index.equals(pd.RangeIndex(2))
    assert list(out.columns) == ["symbol", "direction", "adx"]  # adx may come from the scan
    pd.testing.assert_frame_equal(candidates, before)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"score": 1.0}, r"columns \['score'\] clash with selection output"),
        ({"selected": True, "momentum": 0.1}, r"columns \['momentum', 'selected'\] clash"),
    ],
    ids=["one", "sorted-names"],
)
def test_a_candidate_column_named_like_an_output_is_refused(extra, message):
    candidates = pd.DataFrame({"symbol": ["A"], "direction": ["LONG"], **extra})
    with pytest.raises(DataError, match=message):
        prepare_candidates(candidates)


def pieces(with_adx: bool):
    candidates = pd.DataFrame({"symbol": ["A", "B"], "direction": ["LONG", "LONG"]})
    if with_adx:
        candidates["adx"] = [11.0, 22.0]
    frame = pd.DataFrame({column: [1.0, 2.0] for column in FEATURE_COLUMNS})
    frame = frame.assign(
        symbol=["A", "B"],
        direction=["LONG", "LONG"],
        n_obs=[100, 100],
        adx=[55.0, 66.0],
        cluster=[1, 2],
    )
    for column in PROBABILITY_COLUMNS:  # inputs only: every metric's probability
        frame[column] = [0.25, 0.75]
    vetoes = pd.DataFrame(
        {"vetoes": [[], ["random_walk"]], "hard_veto": [False, False], "veto_detail": ["", "h"]}
    )
    decisions = pd.DataFrame(
        {"score": [0.2, 0.8], "selected": [False, True], "stage": [0, 1], "reason": ["", "top"]}
    )
    return candidates, frame, vetoes, decisions


def test_decision_table_puts_the_candidates_first_then_the_decisions():
    candidates, frame, vetoes, decisions = pieces(with_adx=False)
    out = decision_table(candidates, frame, vetoes, decisions, "htr_3_4", 2)
    assert list(out.columns[:9]) == [
        "symbol",
        "direction",
        "engine",
        "selected",
        "stage",
        "ladder_stage",
        "cluster",
        "score",
        "rank",
    ]
    assert out["engine"].tolist() == ["htr_3_4"] * 2
    assert out["ladder_stage"].tolist() == [2, 2] and out["ladder_stage"].dtype == "int64"
    assert out["rank"].tolist() == [2.0, 1.0]  # B scores 0.8 > 0.2
    assert out["adx"].tolist() == [55.0, 66.0]  # from the features when the candidates lack it
    assert out["vetoes"].tolist() == [[], ["random_walk"]]
    assert out["p_fragility"].tolist() == [0.25, 0.75]


def test_decision_table_keeps_the_candidates_own_adx():
    candidates, frame, vetoes, decisions = pieces(with_adx=True)
    out = decision_table(candidates, frame, vetoes, decisions, "baseline", 1)
    assert list(out.columns).count("adx") == 1
    assert list(out.columns[:3]) == ["symbol", "direction", "adx"]
    assert out["adx"].tolist() == [11.0, 22.0]
