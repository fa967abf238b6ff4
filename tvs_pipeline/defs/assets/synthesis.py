"""Synthesis stage: each role's strategy atoms and their return streams."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.days import run_days
from tvs_pipeline.defs.resources import ComputeResource
from tvs_pipeline.defs.roles import Role, role_asset
from tvs_pipeline.synthesis.atoms import atom_summary, build_atoms

__all__ = ["synthesis_asset"]


def synthesis_asset(role: Role) -> dg.AssetsDefinition:
    """One role's ``synthesis``, built from that role's selection."""
    inputs = {"selection": "selection", "normalization": "normalization"}

    @dg.asset(**role_asset("synthesis", role, inputs))
    def synthesis(
        context: dg.AssetExecutionContext,
        selection: pd.DataFrame,
        normalization: pd.DataFrame,
        compute: ComputeResource,
    ) -> dg.Output[pd.DataFrame]:
        """Return streams of day D's strategy atoms for this role; shorts are synthetic longs."""
        decided = {"selection": selection, "panel": normalization}
        days = run_days(context, build_atoms, compute, sliced=decided, metadata=atom_count)
        return dg.Output(days.table, metadata=days.metadata)

    return synthesis


def atom_count(atoms: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """The strategy atoms of one day, with their logics and timescales (`atom_summary`)."""
    summary = atom_summary(atoms)
    return {
        "atoms": dg.MetadataValue.int(summary["atoms"]),
        "logics": dg.MetadataValue.int(summary["logics"]),
        "timescales": dg.MetadataValue.int(summary["timescales"]),
        "atoms_by_logic": dg.MetadataValue.json(summary["atoms_by_logic"]),
    }
