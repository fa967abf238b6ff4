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
from tvs_pipeline.simulation.simulator import LEDGER_COLUMNS, Holdings, simulate

__all__ = [
    "BPS_PER_UNIT",
    "CVAR_LEVEL",
    "LEDGER_COLUMNS",
    "FrictionModel",
    "Holdings",
    "drawdown",
    "ledger_metrics",
    "metrics",
    "sessions_per_year",
    "simulate",
]
