"""The closed registry of selection engines: a name maps to a factory of a `SelectionEngine`."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.engines.common import DECISION_COLUMNS, FrameSelector, SelectionEngine
from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.vetoes import logic_of

AUDIT_ATTR = "audit_trail"  # v4's trail (`tvs_pipeline.selection.v4.AUDIT_ATTR`), per logic

__all__ = [
    "DECISION_COLUMNS",
    "ENGINES",
    "FrameSelector",
    "LogicSplitEngine",
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


class LogicSplitEngine:
    """An engine that decides each logic's candidates on their own (one logic per atom).

    Candidates of one logic (``logic``; all of them when the column is absent) go to the
    registry's engine as they are. With several logics, each logic's candidates are decided by
    the engine configured with that logic's score weights (`SelectionParams.for_logic`): their
    own feature frame columns, probabilities, clusters, vetoes and relaxation ladder, so a trend
    candidate competes with trend candidates only and a logic added to a profile leaves the
    others' decisions as they were. The rows come back in input order.

    Parameters
    ----------
    name : str
        The registry name.
    params : SelectionParams
        Every parameter (each logic's weights among them).
    """

    def __init__(self, name: str, params: SelectionParams) -> None:
        self.name = name
        self.params = params

    def decide(self, returns: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
        """One day's decisions (see `tvs_pipeline.selection.select`)."""
        logic = logic_of(candidates.reset_index(drop=True))
        if logic.nunique() <= 1:
            first = logic.iloc[0] if len(logic) else "trend"
            return ENGINES[self.name](self.params.for_logic(first)).decide(returns, candidates)
        frame = candidates.reset_index(drop=True)
        parts, trails = [], {}
        for name in dict.fromkeys(logic):
            rows = frame.loc[logic == name]
            engine = ENGINES[self.name](self.params.for_logic(name))
            part = engine.decide(returns, rows)
            part.index = rows.index
            if AUDIT_ATTR in part.attrs:
                trails[name] = part.attrs[AUDIT_ATTR]
            parts.append(part)
        out = pd.concat(parts).sort_index()
        out.attrs = {AUDIT_ATTR: {"by_logic": trails}} if trails else {}
        return out.reset_index(drop=True)


def make_engine(engine: str, params: SelectionParams | None = None) -> SelectionEngine:
    """The engine named ``engine``, configured from ``params`` (the defaults when omitted).

    Every engine reads the parameters it needs from the one nested `SelectionParams` (``v4``
    also its ``v4`` block) and answers the same call, ``decide(returns, candidates)``; it
    decides each logic's candidates on their own (`LogicSplitEngine`).

    Raises
    ------
    ConfigError
        ``engine`` is not in ``ENGINES``.
    """
    if engine not in ENGINES:
        raise ConfigError(f"selection engine {engine!r}: unknown (known: {', '.join(ENGINES)})")
    return LogicSplitEngine(engine, params if params is not None else SelectionParams())
