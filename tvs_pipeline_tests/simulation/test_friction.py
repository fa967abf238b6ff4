"""Tests of the one friction model."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from tvs_pipeline.config.schema import SimulationConfig
from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.simulation.friction import FrictionModel


# Expected values by hand: 1 bp = 0.0001 of traded value, so 5 + 1 bps = 0.0006 per unit.
@pytest.mark.parametrize(
    ("slippage", "commission", "turnover", "rate", "expected"),
    [
        (5.0, 1.0, 1.0, 0.0006, 0.0006),
        (5.0, 1.0, 0.5, 0.0006, 0.0003),
        (0.0, 0.0, 2.0, 0.0, 0.0),
        (10.0, 2.5, 2.0, 0.00125, 0.0025),
        (5.0, 1.0, 0.0, 0.0006, 0.0),
        (100.0, 0.0, 0.3, 0.01, 0.003),
    ],
    ids=["default-full", "default-half", "free", "custom-rates", "no-trade", "slippage-only"],
)
def test_cost_is_rate_times_turnover(slippage, commission, turnover, rate, expected):
    model = FrictionModel(slippage_bps=slippage, commission_bps=commission)
    assert model.rate == pytest.approx(rate, rel=1e-12, abs=0.0)
    assert model.cost(turnover) == pytest.approx(expected, rel=1e-12, abs=0.0)


def test_a_round_trip_pays_both_legs():
    """Buying 0.3 of A and selling 0.3 of B is a one-way turnover of 0.6 (the docstring's case):
    at 6 bps that costs 0.6 x 0.0006 = 0.00036 of equity, twice the cost of one leg."""
    old, new = {"A": 0.2, "B": 0.5}, {"A": 0.5, "B": 0.2}
    turnover = sum(abs(new[s] - old[s]) for s in old)
    model = FrictionModel()
    assert model.cost(turnover) == pytest.approx(0.00036, rel=1e-12)
    assert model.cost(turnover) == pytest.approx(2 * model.cost(0.3), rel=1e-12)


def test_defaults_are_five_and_one_bps():
    model = FrictionModel()
    assert (model.slippage_bps, model.commission_bps) == (5.0, 1.0)
    assert model.cost(1.0) == pytest.approx(6e-4, rel=1e-12)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (SimulationConfig(), FrictionModel(5.0, 1.0, 50.0, {"crypto": 1000.0})),
        (
            SimulationConfig(
                slippage_bps=2.0, commission_bps=0.5, borrow_bps_per_year={"etf": 30.0}
            ),
            FrictionModel(2.0, 0.5, 0.0, {"etf": 30.0}),
        ),
    ],
    ids=["defaults", "custom"],
)
def test_from_config(config, expected):
    assert FrictionModel.from_config(config) == expected


def test_model_is_frozen():
    model = FrictionModel()
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.slippage_bps = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"slippage_bps": -1.0}, "slippage_bps -1.0: expected a finite value >= 0"),
        ({"commission_bps": float("nan")}, "commission_bps nan: expected a finite value >= 0"),
        ({"slippage_bps": float("inf")}, "slippage_bps inf"),
    ],
    ids=["negative", "nan", "inf"],
)
def test_bad_rates_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        FrictionModel(**kwargs)


@pytest.mark.parametrize("turnover", [-0.1, float("nan"), float("inf")], ids=["neg", "nan", "inf"])
def test_bad_turnover_raises_data_error(turnover):
    with pytest.raises(DataError, match="is not a finite value >= 0"):
        FrictionModel().cost(turnover)


def test_borrow_rates_by_sleeve_fall_back_to_the_default():
    model = FrictionModel(borrow_bps_per_year=50.0, borrow_by_sleeve={"crypto": 1000.0})
    sleeves = pd.Series({"AAPL": "us_equity", "BTCUSD": "crypto"})
    assert model.borrow_rates(sleeves).to_dict() == {"AAPL": 50.0, "BTCUSD": 1000.0}


def test_a_negative_borrow_rate_is_refused():
    with pytest.raises(ConfigError, match=r"borrow_by_sleeve\[crypto\] -1"):
        FrictionModel(borrow_by_sleeve={"crypto": -1.0})
