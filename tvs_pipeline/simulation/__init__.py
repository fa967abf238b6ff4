"""Simulation: the shared friction model, the walk-forward ledger and its performance metrics."""

from __future__ import annotations

from tvs_pipeline.simulation.friction import BPS_PER_UNIT, FrictionModel
from tvs_pipeline.simulation.metrics import (
    CVAR_LEVEL,
    SUMMARY_KEYS,
    drawdown,
    performance_summary,
)
from tvs_pipeline.simulation.walk_forward import LEDGER_COLUMNS, walk_forward, walk_forward_ledger

__all__ = [
    "BPS_PER_UNIT",
    "CVAR_LEVEL",
    "LEDGER_COLUMNS",
    "SUMMARY_KEYS",
    "FrictionModel",
    "drawdown",
    "performance_summary",
    "walk_forward",
    "walk_forward_ledger",
]
