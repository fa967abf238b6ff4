"""Strategy atoms: (asset, logic, direction, timescale) streams; a short side, a synthetic long."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.errors import DataError
from tvs_pipeline.funnel.calendars import ALL_DAYS
from tvs_pipeline.funnel.normalization import align_to_shared_sessions
from tvs_pipeline.selection.params import default_timescale
from tvs_pipeline.synthesis.positions import positions

__all__ = [
    "ATOM_COLUMNS",
    "COMPOSITION_COLUMNS",
    "atom_id",
    "atom_matrix",
    "atom_summary",
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
    "timescale",
    "position",
)
COMPOSITION_COLUMNS = ("atom_id", "symbol", "logic", "direction", "sign", "sleeve", "calendar",
                       "timescale")  # fmt: skip
# A synthetic long of a short position cannot lose more than its capital.
SHORT_LOSS_FLOOR = -1.0


def atom_id(symbol: str, logic: str, direction: str) -> str:
    """The atom's identifier: ``SYMBOL|logic|DIRECTION``."""
    return f"{symbol}|{logic}|{direction}"


def build_atoms(selection: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """Return streams of the selected candidates, each following its logic's position rule.

    An atom is (asset, logic, direction, timescale): its stream holds the side its logic decides
    (`positions`) at each rebalance, every ``timescale`` own sessions counted back from the
    last one, from closes up to the rebalance only: a trend atom holds its scanner's direction,
    a mean-reversion atom buys below its recent level and sells above it, a rating atom follows
    the sign of its technical rating. It is identified by (asset, logic, direction), one
    timescale each: rows of one such key with several timescales (two strategies of one logic
    at two horizons) make one atom at the shortest, whatever their order.

    Parameters
    ----------
    selection : DataFrame
        The day's decisions: [symbol, logic, direction, sleeve, calendar, selected, ...];
        optional ``timescale`` (sessions; default the logic's, `default_timescale`).
    panel : DataFrame
        Own-session returns [symbol, market_date, ret].

    Returns
    -------
    DataFrame
        ``ATOM_COLUMNS``, long format, sorted by atom and date. ``position`` is the side held
        over the row's return (+1 or -1); ``ret`` is the listing's return on a long side and
        ``max(-r, -1)`` on a short one; ``sign`` (constant per atom) is the side decided at the
        last session, held over the next one (for flattening to physical weights);
        ``timescale`` the atom's horizon in sessions.

    Raises
    ------
    DataError
        A timescale that is not a whole number >= 1.
    """
    chosen = selection.loc[selection["selected"].astype(bool)]
    keys = ["symbol", "logic", "direction"]
    timescale = (
        pd.to_numeric(chosen["timescale"], errors="coerce")
        if "timescale" in chosen
        else pd.Series(np.nan, index=chosen.index)
    )
    chosen = chosen[[*keys, "sleeve", "calendar"]].assign(
        timescale=timescale.fillna(chosen["logic"].map(default_timescale)).to_numpy()
    )
    # One atom per (listing, logic, side): of two horizons of one logic, the shortest (§9).
    chosen = chosen.sort_values("timescale", kind="mergesort").drop_duplicates(keys).sort_index()
    chosen = chosen.assign(atom_id=[atom_id(*key) for key in chosen[keys].itertuples(index=False)])
    if (chosen["timescale"] < 1).any() or (chosen["timescale"] % 1 != 0).any():
        bad = chosen.loc[(chosen["timescale"] < 1) | (chosen["timescale"] % 1 != 0)]
        raise DataError(
            f"synthesis: timescale must be a whole number >= 1, got {bad['timescale'].tolist()}"
        )
    chosen["timescale"] = chosen["timescale"].astype("int64")
    panel = panel.sort_values(["symbol", "market_date"], kind="mergesort")
    own = {symbol: rows for symbol, rows in panel.groupby("symbol", sort=False)}
    parts = []
    for atom in chosen.itertuples(index=False):
        rows = own.get(atom.symbol)
        if rows is None or rows.empty:
            continue
        r = rows["ret"].to_numpy(dtype="float64")
        side = positions(r, atom.logic, atom.direction, int(atom.timescale))
        held = side[:-1]
        parts.append(
            pd.DataFrame(
                {
                    "atom_id": atom.atom_id,
                    "symbol": atom.symbol,
                    "logic": atom.logic,
                    "direction": atom.direction,
                    "sign": np.int64(side[-1]),
                    "sleeve": atom.sleeve,
                    "calendar": atom.calendar,
                    "market_date": rows["market_date"].to_numpy(),
                    "ret": np.where(held < 0, np.maximum(-r, SHORT_LOSS_FLOOR), r),
                    "timescale": np.int64(atom.timescale),
                    "position": held,
                }
            )
        )
    if not parts:
        empty = chosen.iloc[:0].assign(sign=np.int64(0), market_date=pd.NaT, ret=np.nan,
                                      position=np.int64(0))  # fmt: skip
        return empty[list(ATOM_COLUMNS)].reset_index(drop=True)
    atoms = pd.concat(parts, ignore_index=True)
    atoms = atoms.sort_values(["atom_id", "market_date"], kind="mergesort")
    return atoms[list(ATOM_COLUMNS)].reset_index(drop=True)


def composition(atoms: pd.DataFrame) -> pd.DataFrame:
    """The composition map: one row per atom, ``COMPOSITION_COLUMNS``.

    ``sign`` is the side the atom holds over the next session (+1 or -1): a physical net weight
    is Σ sign x weight over the listing's atoms; ``logic`` and ``timescale`` travel with each
    atom from its stream to its weight. A frame without ``timescale`` (an older synthesis
    partition) takes its logics' defaults.
    """
    atoms = atoms.drop_duplicates("atom_id")
    if "timescale" not in atoms:
        atoms = atoms.assign(timescale=atoms["logic"].map(default_timescale).astype("int64"))
    return atoms[list(COMPOSITION_COLUMNS)].reset_index(drop=True)


def atom_summary(atoms: pd.DataFrame) -> dict[str, object]:
    """A day's atoms at a glance (the ``synthesis`` asset's metadata).

    Returns
    -------
    dict
        ``atoms`` (int), ``logics`` and ``timescales`` (distinct counts), and
        ``atoms_by_logic``: one ``"logic/timescale": count`` entry per pair, e.g.
        ``{"mean_reversion/5": 12, "trend/20": 18}``.
    """
    comp = composition(atoms) if len(atoms) else pd.DataFrame(columns=list(COMPOSITION_COLUMNS))
    pairs = comp.groupby(["logic", "timescale"], sort=True).size()
    return {
        "atoms": len(comp),
        "logics": int(comp["logic"].nunique()),
        "timescales": int(comp["timescale"].nunique()),
        "atoms_by_logic": {f"{logic}/{int(scale)}": int(n) for (logic, scale), n in pairs.items()},
    }


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
