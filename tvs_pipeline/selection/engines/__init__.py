"""The closed registry of selection engines: a name maps to a factory of a fitted-style selector."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.engines.common import DECISION_COLUMNS, Selector, StagedEngine
from tvs_pipeline.selection.params import SelectionParams

__all__ = [
    "DECISION_COLUMNS",
    "ENGINES",
    "ENGINE_OPTIONS",
    "Selector",
    "StagedEngine",
    "engine_params",
    "make_selector",
]


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


def _v4(params: SelectionParams, **options: object) -> StagedEngine:
    from tvs_pipeline.selection.v4 import V4Engine, V4Options

    return V4Engine(params, V4Options.from_kwargs(options))


# SelectionConfig's engine Literal (config/schema.py) names the engines a profile may pick; a test
# pins that every one of them is here.
ENGINES: dict[str, Callable[..., Selector | StagedEngine]] = {
    "baseline": _baseline,
    "cars_2_1": _cars,
    "htr_3_4": _htr,
    "liquid_htr": _liquid_htr,
    "v4": _v4,
}
# Keyword parameters an engine takes beyond `SelectionParams` (its own options, all defaulted);
# a test pins them to the fields of `V4Options`.
ENGINE_OPTIONS: dict[str, tuple[str, ...]] = {"v4": ("max_stage", "linkage")}


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ConfigError(f"selection engine {engine!r}: unknown (known: {', '.join(ENGINES)})")


def engine_params(
    engine: str, params: Mapping[str, object]
) -> tuple[SelectionParams, dict[str, object]]:
    """Split ``select``'s keyword parameters into `SelectionParams` and the engine's options.

    Parameters
    ----------
    engine : str
        A name from ``ENGINES``.
    params : mapping
        Keyword parameters: fields of `SelectionParams`, and for an engine of
        ``ENGINE_OPTIONS`` its own options.

    Returns
    -------
    tuple
        The validated `SelectionParams` and a dict of the engine's own options (empty for an
        engine without options).

    Raises
    ------
    ConfigError
        Unknown engine; an option of another engine; an unknown parameter (with a suggestion)
        or a value out of range.
    """
    _check_engine(engine)
    own = ENGINE_OPTIONS.get(engine, ())
    for name in params:
        owners = [e for e, names in ENGINE_OPTIONS.items() if name in names and e != engine]
        if owners and name not in own:
            raise ConfigError(
                f"selection: parameter {name!r} is an option of engine {owners[0]!r}, "
                f"not of {engine!r}"
            )
    shared = {k: v for k, v in params.items() if k not in own}
    if own:
        known = [*SelectionParams.__dataclass_fields__, *own]
        for name in shared:
            if name not in SelectionParams.__dataclass_fields__:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"selection: unknown parameter {name!r}{hint}")
    options = {k: v for k, v in params.items() if k in own}
    return SelectionParams.from_kwargs(shared), options


def make_selector(
    engine: str, params: SelectionParams, **options: object
) -> Selector | StagedEngine:
    """The unfitted selector of ``engine`` configured from ``params`` (and its own options).

    A `Selector` decides a prepared frame (``fit``); a `StagedEngine` (``v4``) runs its own
    stages from the returns and candidates (``run``).

    Raises
    ------
    ConfigError
        ``engine`` is not in ``ENGINES``, or options given to an engine that has none.
    """
    _check_engine(engine)
    if engine in ENGINE_OPTIONS:
        return ENGINES[engine](params, **options)
    if options:
        raise ConfigError(f"selection engine {engine!r}: takes no options, got {sorted(options)}")
    return ENGINES[engine](params)
