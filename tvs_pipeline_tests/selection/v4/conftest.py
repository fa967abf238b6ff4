"""Real v4 contexts: the demo funnel's day run stage by stage, each stage's output kept."""

from __future__ import annotations

from datetime import date

import pytest

from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.v4 import V4Engine

# DemoMarket(seed=7): htr_3_4 stops at ladder stage 2 on this day (16 winners, 14 at stage 1).
DAY = date(2025, 9, 30)  # the trend ladder stops at stage 2 (13 -> 19 winners)


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


@pytest.fixture(scope="module")
def staged(day_inputs):
    """Every intermediate context of a default v4 run on ``DAY``."""
    return staged_contexts(*day_inputs, SelectionParams())
