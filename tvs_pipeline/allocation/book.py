"""One day's book: the atom weights an engine decides and the physical net weights they make."""

from __future__ import annotations

import pandas as pd

from tvs_pipeline.allocation.weights import (
    allocate,
    check_exposure,
    flatten_weights,
    target_exposure,
)
from tvs_pipeline.config.schema import AllocationConfig
from tvs_pipeline.synthesis.atoms import atom_matrix, composition

__all__ = ["BOOK_COLUMNS", "target_weights"]

BOOK_COLUMNS = ("kind", "atom_id", "symbol", "weight", "net_weight")


def target_weights(atoms: pd.DataFrame, config: AllocationConfig) -> pd.DataFrame:
    """Atom weights and physical net weights of one day, decided at its close.

    Parameters
    ----------
    atoms : DataFrame
        The ``synthesis`` rows of day D (`build_atoms`: ``ATOM_COLUMNS``, one row per atom and
        market date).
    config : AllocationConfig
        The profile's allocation block (engine, profile, caps, estimation window).

    Returns
    -------
    DataFrame
        RangeIndex. ``kind == "atom"`` rows: `allocate`'s columns joined with each atom's
        composition; ``kind == "physical"`` rows: `flatten_weights`'s per-symbol net weights.
        ``BOOK_COLUMNS`` only, and no rows, when the day has no atom.

    Raises
    ------
    DataError
        The physical book's net exposure differs from the atoms' (`check_exposure`).
    """
    if atoms.empty:
        return pd.DataFrame(columns=list(BOOK_COLUMNS))
    weights = allocate(atom_matrix(atoms), config)
    comp = composition(atoms)
    atom_rows = weights.merge(comp, on="atom_id", how="left")
    physical = flatten_weights(weights[["atom_id", "weight"]], comp)
    check_exposure(physical, target_exposure(weights[["atom_id", "weight"]], comp))
    return pd.concat(
        [atom_rows.assign(kind="atom"), physical.assign(kind="physical")], ignore_index=True
    )
