"""The v3 engine's day (tvs_pipeline/selection/engines/v3.py) around a scripted decision rule."""

from __future__ import annotations

import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.selection.engines.v3 import V3Engine
from tvs_pipeline.selection.params import SelectionParams


class PicksTheRandomWalks:
    """A rule that selects the RW* listings with score 1 and records the frame it was shown."""

    def fit(self, frame: pd.DataFrame) -> PicksTheRandomWalks:
        self.frame_ = frame.copy()
        chosen = frame["symbol"].str.startswith("RW")
        self.decisions_ = pd.DataFrame(
            {
                "score": chosen.astype(float),
                "selected": chosen,
                "stage": chosen.astype(int),
                "reason": chosen.map({True: "scripted", False: ""}),
            },
            index=frame.index,
        )
        self.stage_ = 3
        return self


def test_the_rule_decides_and_the_engine_assembles_around_it(panel, candidates):
    rule = PicksTheRandomWalks()
    before = candidates.copy()
    out = V3Engine("scripted", rule, SelectionParams()).decide(panel, candidates)
    pd.testing.assert_frame_equal(candidates, before)
    # the rule saw one row per candidate with features, probabilities and clusters
    shown = rule.frame_
    assert len(shown) == len(candidates) == 20
    assert {"momentum", "p_momentum", "p_kurtosis", "cluster"} <= set(shown.columns)
    assert shown["p_momentum"].between(0, 1).all()
    # its decisions come back verbatim, under the engine's name and the rule's stage
    assert out["symbol"].tolist() == candidates["symbol"].tolist()
    picked = out.loc[out["selected"], "symbol"].tolist()
    assert picked == ["RW0", "RW1", "RW2", "RW3"]
    assert (out["engine"] == "scripted").all() and (out["ladder_stage"] == 3).all()
    assert set(out.loc[out["selected"], "reason"]) == {"scripted"}
    assert "missing_data" not in out.set_index("symbol").at["YOUNG", "vetoes"]


def test_the_params_reach_the_vetoes(panel, candidates):
    """YOUNG has 100 returns: enough for the default 60, missing data under a floor of 150."""
    params = SelectionParams().updated(vetoes={"min_obs": 150})
    out = V3Engine("scripted", PicksTheRandomWalks(), params).decide(panel, candidates)
    young = out.set_index("symbol").loc["YOUNG"]
    assert young["n_obs"] == 100 and "missing_data" in young["vetoes"] and young["hard_veto"]


def test_the_block_factor_listings_share_a_cluster(panel, candidates):
    rule = PicksTheRandomWalks()
    V3Engine("scripted", rule, SelectionParams()).decide(panel, candidates)
    clusters = rule.frame_.set_index("symbol")["cluster"]
    assert clusters[["F1_0", "F1_1", "F1_2", "F1_3"]].nunique() == 1
    assert clusters["F1_0"] != clusters["F2_0"]  # two independent factor blocks


def test_candidate_columns_that_clash_are_refused(panel, candidates):
    engine = V3Engine("scripted", PicksTheRandomWalks(), SelectionParams())
    with pytest.raises(DataError, match=r"columns \['score'\] clash"):
        engine.decide(panel, candidates.assign(score=1.0))
