"""The closed registry of selection engines: a name maps to a factory of a `SelectionEngine`."""

from __future__ import annotations

from collections.abc import Callable

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.engines.common import DECISION_COLUMNS, FrameSelector, SelectionEngine
from tvs_pipeline.selection.params import SelectionParams

__all__ = [
    "DECISION_COLUMNS",
    "ENGINES",
    "FrameSelector",
    "SelectionEngine",
    "make_engine",
]


def _baseline(params: SelectionParams) -> SelectionEngine:
    from tvs_pipeline.selection.engines.baseline import BaselineSelector
    from tvs_pipeline.selection.engines.v3 import V3Engine

    return V3Engine("baseline", BaselineSelector(params), params)


def _cars(params: SelectionParams) -> SelectionEngine:
    from tvs_pipeline.selection.engines.cars import CarsSelector
    from tvs_pipeline.selection.engines.v3 import V3Engine

    return V3Engine("cars_2_1", CarsSelector(params), params)


def _htr(params: SelectionParams) -> SelectionEngine:
    from tvs_pipeline.selection.engines.htr import HtrSelector
    from tvs_pipeline.selection.engines.v3 import V3Engine

    return V3Engine("htr_3_4", HtrSelector(params), params)


def _liquid_htr(params: SelectionParams) -> SelectionEngine:
    from tvs_pipeline.selection.engines.htr import LiquidHtrSelector
    from tvs_pipeline.selection.engines.v3 import V3Engine

    return V3Engine("liquid_htr", LiquidHtrSelector(params), params)


def _v4(params: SelectionParams) -> SelectionEngine:
    from tvs_pipeline.selection.v4 import V4Engine

    return V4Engine(params)


# SelectionConfig's engine Literal (config/schema.py) names the engines a profile may pick; a test
# pins that every one of them is here.
ENGINES: dict[str, Callable[[SelectionParams], SelectionEngine]] = {
    "baseline": _baseline,
    "cars_2_1": _cars,
    "htr_3_4": _htr,
    "liquid_htr": _liquid_htr,
    "v4": _v4,
}


def make_engine(engine: str, params: SelectionParams | None = None) -> SelectionEngine:
    """The engine named ``engine``, configured from ``params`` (the defaults when omitted).

    Every engine reads the parameters it needs from the one nested `SelectionParams` (``v4``
    also its ``v4`` block) and answers the same call, ``decide(returns, candidates)``.

    Raises
    ------
    ConfigError
        ``engine`` is not in ``ENGINES``.
    """
    if engine not in ENGINES:
        raise ConfigError(f"selection engine {engine!r}: unknown (known: {', '.join(ENGINES)})")
    return ENGINES[engine](params if params is not None else SelectionParams())
