"""Synthesis: strategy atoms, their logics' position rules and their return streams."""

from __future__ import annotations

from tvs_pipeline.synthesis.atoms import (
    ATOM_COLUMNS,
    COMPOSITION_COLUMNS,
    atom_id,
    atom_matrix,
    atom_summary,
    build_atoms,
    composition,
    periods_per_year,
)
from tvs_pipeline.synthesis.positions import SIGNAL_LOGICS, close_sides, positions

__all__ = [
    "ATOM_COLUMNS",
    "COMPOSITION_COLUMNS",
    "SIGNAL_LOGICS",
    "atom_id",
    "atom_matrix",
    "atom_summary",
    "build_atoms",
    "close_sides",
    "composition",
    "periods_per_year",
    "positions",
]
