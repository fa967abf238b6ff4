"""Strategy atoms: (asset, logic, direction) return streams; a short becomes a synthetic long."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.errors import DataError
from tvs_pipeline.funnel.calendars import ALL_DAYS
from tvs_pipeline.funnel.normalization import align_to_shared_sessions

__all__ = [
    "ATOM_COLUMNS",
    "atom_id",
    "atom_matrix",
    "build_atoms",
    "check_atom_matrix",
    "composition",
    "periods_per_year",
]

ATOM_COLUMNS = (
    "atom_id",
    "symbol",
    "logic",
    "direction",
    "sign",
    "sleeve",
    "calendar",
    "market_date",
    "ret",
)
# A synthetic long of a short position cannot lose more than its capital.
SHORT_LOSS_FLOOR = -1.0


def atom_id(symbol: str, logic: str, direction: str) -> str:
    """The atom's identifier: ``SYMBOL|logic|DIRECTION``."""
    return f"{symbol}|{logic}|{direction}"


def build_atoms(selection: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """Return streams of the selected candidates.

    Parameters
    ----------
    selection : DataFrame
        The day's decisions: [symbol, logic, direction, sleeve, calendar, selected, ...].
    panel : DataFrame
        Own-session returns [symbol, market_date, ret].

    Returns
    -------
    DataFrame
        ``ATOM_COLUMNS``, long format. ``ret`` is the listing's return for a LONG atom and
        ``max(-r, -1)`` for a SHORT one; ``sign`` is +1 or -1 (for flattening to physical
        weights).
    """
    chosen = selection.loc[selection["selected"].astype(bool)]
    chosen = chosen[["symbol", "logic", "direction", "sleeve", "calendar"]].drop_duplicates()
    chosen = chosen.assign(
        atom_id=[
            atom_id(*key)
            for key in chosen[["symbol", "logic", "direction"]].itertuples(index=False)
        ],
        sign=np.where(chosen["direction"] == "SHORT", -1, 1).astype("int64"),
    )
    atoms = chosen.merge(panel, on="symbol", how="inner")
    atoms["ret"] = np.where(
        atoms["sign"] < 0, np.maximum(-atoms["ret"], SHORT_LOSS_FLOOR), atoms["ret"]
    )
    atoms = atoms.sort_values(["atom_id", "market_date"], kind="mergesort")
    return atoms[list(ATOM_COLUMNS)].reset_index(drop=True)


def composition(atoms: pd.DataFrame) -> pd.DataFrame:
    """The composition map: one row per atom [atom_id, symbol, logic, direction, sign, calendar]."""
    cols = ["atom_id", "symbol", "logic", "direction", "sign", "sleeve", "calendar"]
    return atoms[cols].drop_duplicates("atom_id").reset_index(drop=True)


def atom_matrix(atoms: pd.DataFrame) -> pd.DataFrame:
    """Atom streams as one matrix on the sessions all their calendars share.

    Returns
    -------
    DataFrame
        Index market_date (shared sessions), one column per atom; a crypto weekend is
        compounded into the next shared session.
    """
    if atoms.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], name="market_date"))
    wide = atoms.pivot(index="market_date", columns="atom_id", values="ret").sort_index()
    wide.columns.name = None
    calendars = atoms.drop_duplicates("atom_id").set_index("atom_id")["calendar"].to_dict()
    return align_to_shared_sessions(wide, calendars)


def check_atom_matrix(returns: pd.DataFrame, where: str) -> None:
    """Refuse a matrix that breaks the contract of ``atom_matrix``'s output.

    Every consumer (allocation, the walk-forward) relies on: at least one row and one atom,
    a naive sorted unique date index, unique atom columns, and finite-or-NaN values.

    Raises
    ------
    DataError
        Naming ``where`` and the first broken rule.
    """
    if not isinstance(returns, pd.DataFrame) or returns.shape[0] == 0 or returns.shape[1] == 0:
        shape = getattr(returns, "shape", None)
        raise DataError(f"{where}: returns must be a DataFrame with rows and atoms, got {shape}")
    index = returns.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is not None:
        raise DataError(f"{where}: returns index must be naive dates, got {index.dtype}")
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise DataError(f"{where}: returns index must be sorted and unique, it is not")
    if returns.columns.has_duplicates:
        dupes = sorted(map(str, returns.columns[returns.columns.duplicated()]))
        raise DataError(f"{where}: duplicate atom columns {dupes}")
    infinite = np.isinf(returns.to_numpy(dtype=float)).any(axis=0)
    if infinite.any():
        bad = sorted(map(str, returns.columns[infinite]))
        raise DataError(f"{where}: infinite returns in atoms {bad}, expected finite or NaN")


def periods_per_year(atoms: pd.DataFrame) -> int:
    """Shared sessions per year of an atom matrix: 252 if any atom is on an exchange calendar."""
    calendars = set(atoms["calendar"]) if len(atoms) else set()
    return 365 if calendars and calendars <= {ALL_DAYS} else 252
