from typing import get_args

import pandas as pd
import pytest

from tvs_pipeline.config.schema import SelectionEngine
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.engines import ENGINES, LogicSplitEngine, make_engine
from tvs_pipeline.selection.engines.baseline import BaselineSelector
from tvs_pipeline.selection.engines.cars import CarsSelector
from tvs_pipeline.selection.engines.htr import HtrSelector, LiquidHtrSelector
from tvs_pipeline.selection.engines.v3 import V3Engine
from tvs_pipeline.selection.params import SelectionParams, V4Options
from tvs_pipeline.selection.v4 import V4Engine


def test_the_registry_is_the_config_literal():
    assert set(get_args(SelectionEngine)) == set(ENGINES)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("htr_3_4", HtrSelector),
        ("cars_2_1", CarsSelector),
        ("liquid_htr", LiquidHtrSelector),
        ("baseline", BaselineSelector),
    ],
)
def test_v3_factories_wrap_their_rule_with_the_given_params(name, rule):
    params = SelectionParams().updated(top_n=3, min_pool=7, vetoes={"entropy_max": 0.99})
    split = make_engine(name, params)
    assert type(split) is LogicSplitEngine and split.name == name and split.params is params
    engine = ENGINES[name](params)
    assert type(engine) is V3Engine and engine.name == name
    assert type(engine.selector) is rule and engine.selector.params is params
    assert not hasattr(engine.selector, "decisions_")  # unfitted: learned state comes from fit


def test_v4_factory_reads_its_options_from_the_params():
    params = SelectionParams().updated(top_n=3, v4={"max_stage": 2})
    engine = ENGINES["v4"](params)
    assert type(engine) is V4Engine and engine.params is params and engine.name == "v4"
    assert engine.params.v4 == V4Options(max_stage=2)


def test_every_engine_answers_the_same_call(demo_funnel):
    from datetime import date

    returns, candidates = demo_funnel(date(2025, 6, 30))
    outs = {name: make_engine(name).decide(returns, candidates) for name in ENGINES}
    for name, out in outs.items():
        assert len(out) == len(candidates) and (out["engine"] == name).all()
        assert list(out.columns) == list(outs["htr_3_4"].columns)
    pd.testing.assert_frame_equal(
        outs["v4"].drop(columns="engine"), outs["htr_3_4"].drop(columns="engine")
    )


def test_unknown_engine():
    with pytest.raises(ConfigError, match="selection engine 'momentum': unknown"):
        make_engine("momentum")
