import pandas as pd

from tvs_pipeline.selection.engines.baseline import BaselineSelector
from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.scoring import METRICS

# Selection parameters with the given changes (nested blocks as mappings or instances).
P = SelectionParams().updated


def test_everything_with_returns_passes_through_vetoes_included():
    table = pd.DataFrame(
        {
            "symbol": ["A", "NOISE", "GHOST"],
            "direction": "LONG",
            "n_obs": [300, 300, 0],
            "efficiency_dir": [0.2, -0.3, float("nan")],
        }
    ).assign(**{f"p_{m}": 0.5 for m in METRICS})
    fitted = BaselineSelector().fit(table)
    out = fitted.decisions_
    assert fitted.stage_ == 1
    assert out["selected"].tolist() == [True, True, False]
    assert out["stage"].tolist() == [1, 1, 0]
    assert out["reason"].tolist() == ["pass-through", "pass-through", "missing data: no returns"]
    assert out["score"].notna().tolist() == [True, True, False]
    heavy = BaselineSelector(P(fragility_penalty=0.0)).fit(table).decisions_["score"]
    assert (heavy.dropna() > out["score"].dropna()).all()
