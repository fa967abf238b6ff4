from pathlib import Path

import pytest
import yaml

from tvs_pipeline.config import load_profile
from tvs_pipeline.config.loader import PRESETS_ROOT
from tvs_pipeline.config.schema import SelectionConfig
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.params import SelectionParams


def test_config_defaults_and_core_defaults_agree():
    assert SelectionParams(**SelectionConfig().params()) == SelectionParams()


def test_the_demo_profile_runs_the_champion_with_its_defaults():
    config = load_profile("demo").selection
    assert config.engine == "htr_3_4"
    assert SelectionParams(**config.params()) == SelectionParams()


def test_params_map_every_config_field():
    config = SelectionConfig.model_validate(
        {
            "engine": "cars_2_1",
            "top_n": 3,
            "min_pool": 9,
            "fragility_penalty": 0.25,
            "features": {"entropy_order": 4, "efficiency_window": 120, "hurst_max_lag": 32},
            "vetoes": {"hurst_band": [0.49, 0.51], "entropy_max": 0.998, "min_obs": 80},
            "clustering": {"lookbacks": [30, 90], "threshold": 0.7, "max_clusters": 10},
            "weights": {"momentum": 2.0},
            "cars_weights": {"kurtosis": 0.0},
        }
    )
    params = SelectionParams(**config.params())
    assert (params.top_n, params.min_pool, params.fragility_penalty) == (3, 9, 0.25)
    assert (params.entropy_order, params.efficiency_window, params.hurst_max_lag) == (4, 120, 32)
    assert (params.hurst_low, params.hurst_high, params.entropy_max) == (0.49, 0.51, 0.998)
    assert params.min_obs == 80
    assert params.cluster_lookbacks == (30, 90) and params.cluster_threshold == 0.7
    assert params.max_clusters == 10
    assert params.weights["momentum"] == 2.0 and params.weights["efficiency"] == 2.0
    assert params.cars_weights["kurtosis"] == 0.0


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"engine": "momentum"}, "selection.engine"),
        ({"top_k": 3}, "selection.top_k: unknown key \\(did you mean 'top_n'\\?\\)"),
        ({"vetoes": {"entropy_mx": 0.9}}, "selection.vetoes.entropy_mx: unknown key"),
        ({"vetoes": {"hurst_band": [0.6, 0.4]}}, "hurst_band needs \\[low, high\\]"),
        ({"vetoes": {"entropy_max": 1.5}}, "selection.vetoes.entropy_max"),
        ({"weights": {"alpha": 1.0}}, "selection.weights.alpha: unknown key"),
        ({"cars_weights": {"momentum": -0.1}}, "selection.cars_weights.momentum"),
        ({"features": {"hurst_min_lag": 16, "hurst_max_lag": 16}}, "at least 2 x hurst_min_lag"),
        ({"clustering": {"lookbacks": [1]}}, "lookbacks must all be >= 2"),
        ({"top_n": 0}, "selection.top_n"),
    ],
    ids=["engine", "unknown-key", "nested-key", "band", "bound", "weight-name", "weight-sign",
         "lags", "lookbacks", "top-n"],
)  # fmt: skip
def test_the_profile_block_is_strict(tmp_path: Path, selection, message):
    doc = yaml.safe_load((PRESETS_ROOT / "profiles" / "demo.yaml").read_text())
    doc["selection"] = selection
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=message):
        load_profile(str(path))


def test_from_kwargs_suggests_and_rejects():
    with pytest.raises(ConfigError, match="unknown parameter 'min_pol' \\(did you mean 'min_pool'"):
        SelectionParams.from_kwargs({"min_pol": 3})
    with pytest.raises(ConfigError, match="bad parameter value"):
        SelectionParams.from_kwargs({"top_n": "two"})
    assert SelectionParams.from_kwargs({"top_n": 4}).top_n == 4
