"""The closed registry of selection engines: a name maps to a factory of a fitted-style selector."""

from __future__ import annotations

from collections.abc import Callable

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.engines.common import DECISION_COLUMNS, Selector
from tvs_pipeline.selection.params import SelectionParams

__all__ = ["DECISION_COLUMNS", "ENGINES", "Selector", "make_selector"]


def _baseline(params: SelectionParams) -> Selector:
    from tvs_pipeline.selection.engines.baseline import BaselineSelector

    return BaselineSelector(weights=params.weights, fragility_penalty=params.fragility_penalty)


def _cars(params: SelectionParams) -> Selector:
    from tvs_pipeline.selection.engines.cars import CarsSelector

    return CarsSelector(
        top_n=params.top_n, thresholds=params.thresholds(), weights=params.cars_weights
    )


def _htr(params: SelectionParams) -> Selector:
    from tvs_pipeline.selection.engines.htr import HtrSelector

    return HtrSelector(
        top_n=params.top_n,
        min_pool=params.min_pool,
        thresholds=params.thresholds(),
        weights=params.weights,
        fragility_penalty=params.fragility_penalty,
    )


def _liquid_htr(params: SelectionParams) -> Selector:
    from tvs_pipeline.selection.engines.htr import LiquidHtrSelector

    return LiquidHtrSelector(
        top_n=params.top_n, min_pool=params.min_pool, thresholds=params.thresholds()
    )


# Names match SelectionConfig.engine (config/schema.py); a test pins that they agree.
ENGINES: dict[str, Callable[[SelectionParams], Selector]] = {
    "baseline": _baseline,
    "cars_2_1": _cars,
    "htr_3_4": _htr,
    "liquid_htr": _liquid_htr,
}


def make_selector(engine: str, params: SelectionParams) -> Selector:
    """The unfitted selector of ``engine`` configured from ``params``.

    Raises
    ------
    ConfigError
        ``engine`` is not in ``ENGINES``.
    """
    if engine not in ENGINES:
        raise ConfigError(f"selection engine {engine!r}: unknown (known: {', '.join(ENGINES)})")
    return ENGINES[engine](params)
