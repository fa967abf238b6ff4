import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.engines.cars import CarsSelector
from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.scoring import METRICS
from tvs_pipeline.selection.vetoes import VetoThresholds

# Selection parameters with the given changes (nested blocks as mappings or instances).
P = SelectionParams().updated

CLEAN = {"n_obs": 300, "entropy": 0.99, "hurst": 0.53, "efficiency_dir": 0.2,
         "momentum": 0.3, "survival": 1.0}  # fmt: skip


def frame(rows):
    records = []
    for symbol, direction, cluster, strength, changes in rows:
        record = {"symbol": symbol, "direction": direction, "cluster": cluster} | CLEAN
        record |= {f"p_{m}": 0.5 for m in METRICS} | {"p_momentum": strength}
        records.append(record | changes)
    return pd.DataFrame(records)


ROWS = [
    ("A1", "LONG", 1, 0.9, {}),
    ("A2", "LONG", 1, 0.8, {}),
    ("A3", "LONG", 1, 0.95, {"efficiency_dir": 0.0}),  # best score, vetoed
    ("A4", "SHORT", 1, 0.1, {}),
    ("B1", "LONG", 2, 0.2, {"hurst": 0.6, "momentum": -0.1}),  # hard veto
]


def test_one_strict_pass_top_n_per_cluster_and_direction():
    fitted = CarsSelector(P(top_n=1)).fit(frame(ROWS))
    out = fitted.decisions_.assign(symbol=[r[0] for r in ROWS]).set_index("symbol")
    assert fitted.stage_ == 1
    assert out.index[out["selected"]].tolist() == ["A1", "A4"]
    assert out["stage"].tolist() == [1, 0, 0, 1, 0]
    assert out.loc["A1", "reason"] == "top 1 LONG of cluster 1"
    assert out.loc["A2", "reason"] == "outside the top 1 LONG of cluster 1"
    assert out.loc["A3", "reason"] == "vetoed: low_efficiency"
    assert out.loc["B1", "reason"] == "toxic persistence: hurst 0.600 > 0.55 with momentum -10.0%"
    assert out["score"].between(0, 1).all()
    two = CarsSelector(P(top_n=2)).fit(frame(ROWS)).decisions_["selected"]
    assert two.sum() == 3
    twins = frame(ROWS).assign(identity=["X", "X", "Y", "Z", "W"])
    out = CarsSelector(P(top_n=2)).fit(twins).decisions_
    assert out["selected"].tolist() == [True, False, False, True, False]
    assert out.loc[1, "reason"] == "another listing of X LONG was selected"


def test_weights_and_thresholds_change_the_outcome():
    table = frame(ROWS).assign(p_kurtosis=[0.1, 0.9, 0.5, 0.5, 0.5])
    only_kurtosis = {m: 0.0 for m in METRICS} | {"kurtosis": 1.0}
    chosen = CarsSelector(P(top_n=1, cars_weights=only_kurtosis)).fit(table).decisions_["selected"]
    assert chosen.tolist() == [False, True, False, True, False]
    loose = VetoThresholds(efficiency_min=-1.0)
    chosen = CarsSelector(P(top_n=1, vetoes=loose)).fit(table).decisions_["selected"]
    assert chosen.tolist() == [False, False, True, True, False]


def test_errors():
    # Parameters are validated where they are built, before any engine sees them.
    with pytest.raises(ConfigError, match=r"top_n: Input should be greater than or equal to 1"):
        CarsSelector(P(top_n=0))
    with pytest.raises(ConfigError, match=r"cars_weights\.beta: unknown key"):
        CarsSelector(P(cars_weights={"beta": 1.0}))
