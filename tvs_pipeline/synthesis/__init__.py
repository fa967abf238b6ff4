"""Synthesis: strategy atoms and their return streams."""

from __future__ import annotations

from tvs_pipeline.synthesis.atoms import (
    ATOM_COLUMNS,
    atom_id,
    atom_matrix,
    build_atoms,
    composition,
    periods_per_year,
)

__all__ = [
    "ATOM_COLUMNS",
    "atom_id",
    "atom_matrix",
    "build_atoms",
    "composition",
    "periods_per_year",
]
