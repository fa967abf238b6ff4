from typing import get_args

import pytest

from tvs_pipeline.config.schema import SelectionEngine
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.engines import ENGINES, make_selector
from tvs_pipeline.selection.engines.baseline import BaselineSelector
from tvs_pipeline.selection.engines.cars import CarsSelector
from tvs_pipeline.selection.engines.htr import HtrSelector, LiquidHtrSelector
from tvs_pipeline.selection.params import SelectionParams


def test_the_registry_is_the_config_literal():
    assert set(ENGINES) == set(get_args(SelectionEngine))


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


def test_unknown_engine():
    with pytest.raises(ConfigError, match="selection engine 'momentum': unknown"):
        make_selector("momentum", SelectionParams())
