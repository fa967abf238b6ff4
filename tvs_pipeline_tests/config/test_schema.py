"""The configuration models (tvs_pipeline/config/schema.py): strict, closed, frozen, checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tvs_pipeline.config import load_profile
from tvs_pipeline.config.schema import (
    AllocationConfig,
    FilterRule,
    HealthConfig,
    HygieneConfig,
    ResolvedScanner,
    RunConfig,
    ScheduleConfig,
    SelectionConfig,
    SimulationConfig,
    StrategyConfig,
    TemplateConfig,
    UniverseConfig,
)


@pytest.mark.parametrize(
    "rule",
    [
        {"column": "close", "op": ">", "value": 5},
        {"column": "close", "op": "between", "value": [1, 2]},
        {"column": "type", "op": "in", "value": ["stock", "fund"]},
        {"column": "name", "op": "match", "value": "^A"},
        {"column": "Recommend.All|240", "op": ">", "value": 0.1},
    ],
    ids=["scalar", "between", "in", "match", "timeframe-suffix"],
)
def test_good_filter_rules(rule):
    assert FilterRule(**rule).column == rule["column"]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"column": "close", "op": "between", "value": [1, 2, 3]}, r"needs \[low, high\]"),
        ({"column": "close", "op": "not_in", "value": "x"}, "'not_in' needs a list"),
        ({"column": "close", "op": "<", "value": [1]}, "'<' needs one value, got a list"),
        ({"column": "name", "op": "match", "value": 3}, "'match' needs a regular expression"),
        ({"column": "", "op": ">", "value": 1}, "at least 1 character"),
        ({"column": "close", "op": ">", "value": 1, "when": "daily"}, "Extra inputs"),
    ],
    ids=["between-three", "not-in-scalar", "lt-list", "match-number", "no-column", "extra-key"],
)
def test_bad_filter_rules(rule, message):
    with pytest.raises(ValidationError, match=message):
        FilterRule(**rule)


def test_models_are_strict_and_frozen():
    with pytest.raises(ValidationError, match="valid integer"):
        RunConfig(lookback_days="500")  # strict: a string is not an int
    run = RunConfig()
    with pytest.raises(ValidationError, match="frozen"):
        run.step = 5


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RunConfig(lookback_days=60, history_floor=90), "history_floor 90 exceeds"),
        (lambda: RunConfig(lookback_days=29), "greater than or equal to 30"),
        (lambda: HealthConfig(max_daily_loss=-1.0), "greater than -1"),
        (lambda: AllocationConfig(max_weight=0.0), "greater than 0"),
        (lambda: AllocationConfig(estimation_days=19), "greater than or equal to 20"),
        (lambda: AllocationConfig(engine="cvxpy"), "'pyportfolioopt' or 'cvxportfolio'"),
        (lambda: SimulationConfig(slippage_bps=-0.5), "greater than or equal to 0"),
        (lambda: ScheduleConfig(hour=24), "less than or equal to 23"),
    ],
    ids=["floor", "lookback", "loss", "weight", "window", "engine", "slippage", "hour"],
)
def test_bounds_are_enforced(make, message):
    with pytest.raises(ValidationError, match=message):
        make()


def test_a_floor_equal_to_the_lookback_is_allowed():
    assert RunConfig(lookback_days=90, history_floor=90).history_floor == 90


def test_the_champion_may_still_be_called_engine():
    assert SelectionConfig(engine="baseline").champion == "baseline"
    config = SelectionConfig(champion="cars_2_1", challenger="htr_3_4")
    assert config.engine == "cars_2_1"
    assert (config.engine_for("champion"), config.engine_for("challenger")) == (
        "cars_2_1",
        "htr_3_4",
    )
    with pytest.raises(ValidationError):
        SelectionConfig(champion="htr_9")


def test_a_resolved_scanner_filters_universe_then_hygiene_then_gates():
    rule = {"op": ">", "value": 1}
    scanner = ResolvedScanner(
        name="s",
        sleeve="eq",
        universe=UniverseConfig(market="america", filters=[FilterRule(column="u", **rule)]),
        hygiene=HygieneConfig(filters=[FilterRule(column="h", **rule)]),
        template=TemplateConfig(asset_class="equity", calendar="XNYS", sessions_per_year=252),
        strategy=StrategyConfig(
            logic="trend", direction="LONG", gates=[FilterRule(column="g", **rule)]
        ),
        columns=[],
        sort_by="Value.Traded",
        sort_order="desc",
        limit=50,
    )
    assert [f.column for f in scanner.filters] == ["u", "h", "g"]


def test_sleeve_calendars_of_the_demo_profile():
    assert load_profile("demo").sleeve_calendars() == {
        "us_equity": "XNYS",
        "crypto": "24/7",
        "etf": "XNYS",
        "forex": "24/5",
        "futures": "CMES",
    }
