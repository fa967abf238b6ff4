"""Simulation: the shared friction model, the simulators, the track record and its metrics."""

from __future__ import annotations

from tvs_pipeline.simulation.friction import BPS_PER_UNIT, FrictionModel
from tvs_pipeline.simulation.metrics import (
    CVAR_LEVEL,
    drawdown,
    ledger_metrics,
    metrics,
    sessions_per_year,
)
from tvs_pipeline.simulation.overfitting import (
    deflated_sharpe_ratio,
    distinct_trials,
    probability_of_backtest_overfitting,
)
from tvs_pipeline.simulation.simulator import LEDGER_COLUMNS, Holdings, simulate

__all__ = [
    "BPS_PER_UNIT",
    "CVAR_LEVEL",
    "LEDGER_COLUMNS",
    "FrictionModel",
    "Holdings",
    "deflated_sharpe_ratio",
    "distinct_trials",
    "drawdown",
    "ledger_metrics",
    "metrics",
    "probability_of_backtest_overfitting",
    "sessions_per_year",
    "simulate",
]
