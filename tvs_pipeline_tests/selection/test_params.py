from pathlib import Path

import pytest
import yaml

from tvs_pipeline.config import load_profile
from tvs_pipeline.config.loader import PRESETS_ROOT
from tvs_pipeline.config.schema import SelectionConfig
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.params import SelectionParams, V4Options


def _profile(tmp_path: Path, selection: dict) -> Path:
    doc = yaml.safe_load((PRESETS_ROOT / "profiles" / "demo.yaml").read_text())
    doc["selection"] = selection
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_the_defaults_documented_in_the_methodology():
    # docs/methodology.md section 8 states these values; written here by hand, not read back.
    params = SelectionParams()
    assert (params.top_n, params.min_pool, params.fragility_penalty) == (2, 15, 0.5)
    assert (params.vetoes.entropy_max, params.vetoes.efficiency_min) == (0.999, 0.08)
    assert (params.vetoes.hurst_low, params.vetoes.hurst_high) == (0.495, 0.505)
    assert (params.vetoes.toxic_hurst, params.vetoes.survival_min, params.vetoes.min_obs) == (
        0.55,
        0.5,
        60,
    )
    assert params.clustering.lookbacks == (60, 120, 200)
    assert (params.clustering.shrinkage, params.clustering.threshold) == (0.05, 0.5)
    assert params.clustering.max_clusters == 25
    assert (params.features.entropy_order, params.features.hurst_max_lag) == (3, 64)
    assert (params.weights.efficiency, params.cars_weights.efficiency) == (2.0, 0.25)
    assert (params.v4.max_stage, params.v4.linkage) == (4, "ward")


def test_the_demo_profile_states_no_selection_default(tmp_path: Path):
    # The shipped profile runs the defaults: its file has no selection block at all.
    doc = yaml.safe_load((PRESETS_ROOT / "profiles" / "demo.yaml").read_text())
    assert "selection" not in doc
    config = load_profile("demo").selection
    assert (config.champion, config.challenger) == ("htr_3_4", "v4")
    assert config.params() == SelectionParams()


def test_a_profile_states_only_what_it_changes(tmp_path: Path):
    path = _profile(
        tmp_path,
        {
            "engine": "cars_2_1",
            "top_n": 3,
            "vetoes": {"hurst_low": 0.49, "min_obs": 80},
            "clustering": {"lookbacks": [30, 90], "threshold": 0.7},
            "weights": {"momentum": 2.0},
            "v4": {"max_stage": 2, "linkage": "average"},
        },
    )
    config = load_profile(str(path)).selection
    params = config.params()
    assert config.engine == "cars_2_1" and params.top_n == 3
    # A nested block merges over its defaults: the keys not given keep them.
    assert (params.vetoes.hurst_low, params.vetoes.hurst_high, params.vetoes.min_obs) == (
        0.49,
        0.505,
        80,
    )
    assert params.clustering.lookbacks == (30, 90) and params.clustering.max_clusters == 25
    assert (params.weights.momentum, params.weights.efficiency) == (2.0, 2.0)
    assert params.v4 == V4Options(max_stage=2, linkage="average")
    assert not params.v4.htr_equivalent


def test_the_challenger_options_reach_the_engine(tmp_path: Path):
    from tvs_pipeline.selection import make_engine

    config = load_profile(str(_profile(tmp_path, {"v4": {"max_stage": 1}}))).selection
    engine = make_engine(config.challenger, config.params())
    assert engine.params.v4.max_stage == 1


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"engine": "momentum"}, "selection.engine"),
        ({"top_k": 3}, "selection.top_k: unknown key \\(did you mean 'top_n'\\?\\)"),
        ({"vetoes": {"entropy_mx": 0.9}}, "selection.vetoes.entropy_mx: unknown key"),
        ({"vetoes": {"hurst_low": 0.6, "hurst_high": 0.4}}, "hurst band \\[0.6, 0.4\\]"),
        ({"vetoes": {"entropy_max": 1.5}}, "selection.vetoes.entropy_max"),
        ({"weights": {"alpha": 1.0}}, "selection.weights.alpha: unknown key"),
        ({"cars_weights": {"momentum": -0.1}}, "selection.cars_weights.momentum"),
        ({"features": {"hurst_min_lag": 16, "hurst_max_lag": 16}}, "at least 2 x min_lag 16"),
        ({"clustering": {"lookbacks": [1]}}, "lookbacks must all be >= 2"),
        ({"top_n": 0}, "selection.top_n"),
        ({"v4": {"max_stag": 2}}, "selection.v4.max_stag: unknown key \\(did you mean 'max_stage'"),
        ({"v4": {"linkage": "median"}}, "selection.v4.linkage"),
    ],
    ids=["engine", "unknown-key", "nested-key", "band", "bound", "weight-name", "weight-sign",
         "lags", "lookbacks", "top-n", "v4-key", "v4-linkage"],
)  # fmt: skip
def test_the_profile_block_is_strict(tmp_path: Path, selection, message):
    with pytest.raises(ConfigError, match=message):
        load_profile(str(_profile(tmp_path, selection)))


def test_build_suggests_and_rejects_in_one_line():
    with pytest.raises(ConfigError, match="min_pol: unknown key \\(did you mean 'min_pool'"):
        SelectionParams.build({"min_pol": 3})
    with pytest.raises(ConfigError, match="top_n: Input should be a valid integer"):
        SelectionParams.build({"top_n": "two"})
    with pytest.raises(ConfigError, match=r"vetoes\.min_ob: unknown key \(did you mean 'min_obs'"):
        SelectionParams.build({"vetoes": {"min_ob": 3}})
    assert SelectionParams.build({"top_n": 4}).top_n == 4


def test_updated_merges_nested_blocks_and_validates():
    base = SelectionParams()
    changed = base.updated(top_n=3, vetoes={"min_obs": 80})
    assert (changed.top_n, changed.vetoes.min_obs, changed.vetoes.entropy_max) == (3, 80, 0.999)
    assert base.top_n == 2  # frozen: the original is untouched
    with pytest.raises(ConfigError, match="top_n"):
        base.updated(top_n=0)


def test_a_selection_config_is_its_parameters_plus_the_roles():
    config = SelectionConfig.model_validate({"champion": "v4", "challenger": "htr_3_4"})
    assert config.engine_for("champion") == "v4" and config.engine_for("challenger") == "htr_3_4"
    assert type(config.params()) is SelectionParams
