import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.engines.htr import HtrSelector, LiquidHtrSelector
from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.scoring import METRICS
from tvs_pipeline.selection.vetoes import VetoThresholds

# Selection parameters with the given changes (nested blocks as mappings or instances).
P = SelectionParams().updated

CLEAN = {"n_obs": 300, "entropy": 0.99, "hurst": 0.53, "efficiency_dir": 0.2,
         "momentum": 0.3, "survival": 1.0, "liquidity": 1e8}  # fmt: skip


def frame(rows):
    """rows: (symbol, direction, cluster, p_momentum, feature overrides)."""
    records = []
    for symbol, direction, cluster, strength, changes in rows:
        record = {"symbol": symbol, "direction": direction, "cluster": cluster} | CLEAN
        record |= {f"p_{m}": 0.5 for m in METRICS} | {"p_momentum": strength}
        records.append(record | changes)
    return pd.DataFrame(records)


def decided(selector, rows):
    fitted = selector.fit(frame(rows))
    out = fitted.decisions_.assign(symbol=[r[0] for r in rows]).set_index("symbol")
    return fitted, out


def chosen(out):
    return sorted(out.index[out["selected"]])


NOISY = {"entropy": 0.9995}  # fails the strict ceiling, passes the relaxed one (lifted)
FLAT = {"efficiency_dir": 0.0}  # fails the floor in stages 1 and 2
TOXIC = {"hurst": 0.6, "momentum": -0.2, "efficiency_dir": 0.2}
DEAD = {"survival": 0.0}
SHORT = {"n_obs": 10}


def test_stage_1_top_n_per_cluster_and_direction():
    rows = [
        ("A1", "LONG", 1, 0.9, {}), ("A2", "LONG", 1, 0.8, {}), ("A3", "LONG", 1, 0.7, {}),
        ("A4", "SHORT", 1, 0.6, {}), ("B1", "LONG", 2, 0.3, {}), ("B2", "LONG", 2, 0.2, {}),
    ]  # fmt: skip
    fitted, out = decided(HtrSelector(P(top_n=2, min_pool=5)), rows)
    assert fitted.stage_ == 1
    assert chosen(out) == ["A1", "A2", "A4", "B1", "B2"]
    assert out.loc["A3", "reason"] == "outside the top 2 LONG of cluster 1"
    assert out.loc["A1", "reason"] == "stage 1: top 2 LONG of cluster 1"
    assert (out.loc[out["selected"], "stage"] == 1).all()
    assert out.loc["A1", "score"] > out.loc["A2", "score"] > out.loc["A3", "score"]
    _, one = decided(HtrSelector(P(top_n=1, min_pool=0)), rows)
    assert chosen(one) == ["A1", "A4", "B1"]  # top_n changes the output


def test_stage_2_relaxes_entropy_and_efficiency():
    rows = [
        ("A1", "LONG", 1, 0.9, NOISY), ("A2", "LONG", 1, 0.8, {}),
        ("B1", "LONG", 2, 0.7, {"efficiency_dir": 0.07}), ("C1", "LONG", 3, 0.6, FLAT),
    ]  # fmt: skip
    fitted, out = decided(HtrSelector(P(top_n=1, min_pool=2)), rows)
    assert fitted.stage_ == 2  # stage 1 finds only A2
    assert chosen(out) == ["A1", "B1"]  # stops at the first stage that fills the pool
    assert out.loc["A1", "stage"] == 2 and "admitted by the relaxed" in out.loc["A1", "reason"]
    assert out.loc["B1", "stage"] == 2
    assert out.loc["A2", "reason"] == "outside the top 1 LONG of cluster 1"  # displaced
    assert out.loc["C1", "reason"] == "vetoed: low_efficiency"
    fitted, out = decided(HtrSelector(P(top_n=2, min_pool=3)), rows)
    assert fitted.stage_ == 2 and chosen(out) == ["A1", "A2", "B1"]
    assert "passes the strict thresholds" in out.loc["A2", "reason"]
    assert out.loc["A2", "stage"] == 1
    fitted, _ = decided(HtrSelector(P(top_n=1, min_pool=3)), rows)
    assert fitted.stage_ == 3  # cluster 3 has no eligible candidate even relaxed


def test_stage_3_one_representative_per_fully_vetoed_cluster():
    rows = [
        ("A1", "LONG", 1, 0.9, {}),
        ("B1", "LONG", 2, 0.95, FLAT | {"entropy": 0.9995}),  # best, but above the hard stop
        ("B2", "LONG", 2, 0.9, FLAT | TOXIC | {"efficiency_dir": 0.0}),  # hard veto
        ("B3", "LONG", 2, 0.5, FLAT),  # the representative
        ("B4", "SHORT", 2, 0.4, FLAT),  # one per cluster, not per direction
        ("C1", "LONG", 3, 0.3, FLAT | {"entropy": 0.9995}),  # nobody eligible in cluster 3
    ]  # fmt: skip
    fitted, out = decided(HtrSelector(P(top_n=2, min_pool=2)), rows)
    assert fitted.stage_ == 3
    assert chosen(out) == ["A1", "B3"]
    assert out.loc["B3", "stage"] == 3
    assert out.loc["B3", "reason"] == "stage 3: representative of fully vetoed cluster 2"
    assert out.loc["B2", "reason"] == "toxic persistence: hurst 0.600 > 0.55 with momentum -20.0%"
    assert "entropy above the hard stop" in out.loc["B1", "reason"]


def test_stage_4_fills_from_the_best_global_scores():
    rows = [
        ("A1", "LONG", 1, 0.9, {}), ("A2", "LONG", 1, 0.8, {}), ("A3", "LONG", 1, 0.7, {}),
        ("A4", "LONG", 1, 0.65, NOISY | FLAT), ("A5", "LONG", 1, 0.6, FLAT),
        ("A6", "LONG", 1, 0.55, FLAT), ("A7", "LONG", 1, 0.5, DEAD),
    ]  # fmt: skip
    fitted, out = decided(HtrSelector(P(top_n=1, min_pool=3)), rows)
    assert fitted.stage_ == 4
    assert chosen(out) == ["A1", "A2", "A3"]
    assert out.loc["A2", "stage"] == 4 and out.loc["A3", "stage"] == 4
    assert out.loc["A5", "reason"] == "vetoed: low_efficiency"
    fitted, out = decided(HtrSelector(P(top_n=1, min_pool=5)), rows)
    assert chosen(out) == ["A1", "A2", "A3", "A5", "A6"]  # A4 above the hard stop, A7 dead
    _, out = decided(HtrSelector(P(top_n=1, min_pool=2)), rows)
    assert out.loc["A3", "reason"] == "not needed: the pool of 2 was filled by higher scores"


@pytest.mark.parametrize(
    ("hard", "reason"),
    [
        (TOXIC, "toxic persistence: hurst 0.600 > 0.55 with momentum -20.0%"),
        (DEAD, "failed survival: 0.00 < 0.5"),
        (SHORT, "missing data: 10 returns < 60"),
    ],
    ids=["toxic", "survival", "missing"],
)
def test_hard_vetoes_hold_in_every_stage(hard, reason):
    rows = [("BEST", "LONG", 1, 0.99, hard), ("A", "LONG", 1, 0.1, FLAT), ("B", "LONG", 2, 0.1, {})]
    fitted, out = decided(HtrSelector(P(top_n=5, min_pool=100)), rows)
    assert fitted.stage_ == 4
    assert not out.loc["BEST", "selected"]
    assert out.loc["BEST", "reason"] == reason
    assert chosen(out) == ["A", "B"]


def test_unclustered_candidates_are_never_recruited():
    rows = [("A", "LONG", -1, 0.9, {}), ("B", "LONG", 1, 0.1, {})]
    _, out = decided(HtrSelector(P(top_n=2, min_pool=10)), rows)
    assert chosen(out) == ["B"]


def test_thresholds_and_weights_change_the_outcome():
    rows = [("A1", "LONG", 1, 0.9, {"entropy": 0.995}), ("A2", "LONG", 1, 0.8, {"entropy": 0.98})]
    _, out = decided(HtrSelector(P(top_n=1, min_pool=0)), rows)
    assert chosen(out) == ["A1"]
    strict = VetoThresholds(entropy_max=0.99)
    _, out = decided(HtrSelector(P(top_n=1, min_pool=0, vetoes=strict)), rows)
    assert chosen(out) == ["A2"]
    table = frame(rows).assign(p_efficiency=[0.1, 0.9])
    out = HtrSelector(P(top_n=1, min_pool=0, weights={"efficiency": 4.0})).fit(table).decisions_
    assert out["selected"].tolist() == [False, True]
    penalty = HtrSelector(P(fragility_penalty=0.0)).fit(table).decisions_["score"]
    assert (penalty > HtrSelector().fit(table).decisions_["score"]).all()


def test_liquid_htr_ranks_by_liquidity_alone():
    rows = [
        ("RICH", "LONG", 1, 0.1, {"liquidity": 5e9, "p_liquidity": 0.9}),
        ("BEST", "LONG", 1, 0.99, {"liquidity": 1e6, "p_liquidity": 0.2}),
        ("UNKNOWN", "LONG", 1, 0.5, {"liquidity": np.nan, "p_liquidity": 0.5}),
    ]
    _, out = decided(LiquidHtrSelector(P(top_n=1, min_pool=0)), rows)
    assert chosen(out) == ["RICH"]
    assert out.loc["UNKNOWN", "score"] == 0.0
    _, htr = decided(HtrSelector(P(top_n=1, min_pool=0)), rows)
    assert chosen(htr) == ["BEST"]


def test_errors():
    rows = [("A", "LONG", 1, 0.5, {})]
    # Parameters are validated where they are built, before any engine sees them.
    with pytest.raises(ConfigError, match=r"top_n: Input should be greater than or equal to 1"):
        HtrSelector(P(top_n=0)).fit(frame(rows))
    with pytest.raises(ConfigError, match=r"min_pool: Input should be greater than or equal to 0"):
        LiquidHtrSelector(P(min_pool=-1)).fit(frame(rows))


def test_fallbacks_take_one_listing_per_identity_and_side():
    rows = [
        ("SPOT", "LONG", 1, 0.9, {"identity": "BTC"}),
        ("PERP", "LONG", 2, 0.8, {"identity": "BTC"}),
        ("OTHER", "LONG", 3, 0.1, {"identity": "ETH", **FLAT}),
    ]
    fitted, out = decided(HtrSelector(P(top_n=2, min_pool=3)), rows)
    assert fitted.stage_ == 4  # the pool of 3 is out of reach: PERP is the same asset as SPOT
    assert chosen(out) == ["OTHER", "SPOT"]
    assert out.loc["PERP", "reason"] == "another listing of BTC LONG was selected"
