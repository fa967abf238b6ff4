"""Real v4 contexts: the demo funnel's day run stage by stage, each stage's output kept."""

from __future__ import annotations

from datetime import date

import pytest

from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.v4 import V4Engine

# DemoMarket(seed=7) on this day, min_pool 20: the trend ladder stops at stage 2 (19 -> 26
# winners). Before issue 17 the defaults (min_pool 15) stopped it there (13 -> 19); its FX and
# futures trend candidates give stage 1 19 winners, so the default ladder stops at stage 1.
DAY = date(2025, 9, 30)
PARAMS = SelectionParams(min_pool=20)


def staged_contexts(returns, candidates, params=None, run_id="test-run"):
    """{"start": context before any stage, <stage name>: context after it, ...}."""
    engine = V4Engine(params)
    context = engine.start(returns, candidates, run_id)
    out = {"start": context}
    for stage in engine.stages():
        context = stage.run(context)
        out[stage.name] = context
    return out


@pytest.fixture(scope="module")
def day_inputs(demo_funnel):
    """(returns, candidates) of the demo funnel's trend candidates on ``DAY``.

    The staged pipeline runs one logic's candidates (`select` splits a day by logic before it
    reaches v4), so its stages are checked on the trend logic's.
    """
    returns, candidates = demo_funnel(DAY)
    return returns, candidates.loc[candidates["logic"] == "trend"].reset_index(drop=True)


@pytest.fixture(scope="session")
def params() -> SelectionParams:
    """The shared parameters the staged contexts run with (``PARAMS``)."""
    return PARAMS


@pytest.fixture(scope="module")
def staged(day_inputs):
    """Every intermediate context of a default v4 run on ``DAY``."""
    return staged_contexts(*day_inputs, PARAMS)
