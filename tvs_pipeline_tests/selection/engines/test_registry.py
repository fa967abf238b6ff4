from typing import get_args

import pytest

from tvs_pipeline.config.schema import SelectionEngine
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.engines import ENGINES, make_selector
from tvs_pipeline.selection.engines.baseline import BaselineSelector
from tvs_pipeline.selection.engines.cars import CarsSelector
from tvs_pipeline.selection.engines.htr import HtrSelector, LiquidHtrSelector
from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.v4 import V4Engine, V4Options

# Registered engines a profile may not name yet: the shell wires v4 as challenger.
NOT_YET_IN_CONFIG = {"v4"}


def test_the_registry_covers_the_config_literal():
    configured = set(get_args(SelectionEngine))
    assert configured <= set(ENGINES)
    assert set(ENGINES) - configured <= NOT_YET_IN_CONFIG


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("htr_3_4", HtrSelector),
        ("cars_2_1", CarsSelector),
        ("liquid_htr", LiquidHtrSelector),
        ("baseline", BaselineSelector),
    ],
)
def test_factories_configure_from_params(name, kind):
    params = SelectionParams(top_n=3, min_pool=7, entropy_max=0.99)
    selector = make_selector(name, params)
    assert type(selector) is kind
    if hasattr(selector, "top_n"):
        assert selector.top_n == 3 and selector.thresholds.entropy_max == 0.99
    assert not hasattr(selector, "decisions_")  # unfitted: learned state comes from fit


def test_v4_factory_takes_its_options():
    params = SelectionParams(top_n=3)
    engine = make_selector("v4", params, max_stage=2)
    assert type(engine) is V4Engine and engine.params is params
    assert engine.options == V4Options(max_stage=2)
    assert not hasattr(engine, "decisions_")


def test_unknown_engine():
    with pytest.raises(ConfigError, match="selection engine 'momentum': unknown"):
        make_selector("momentum", SelectionParams())
