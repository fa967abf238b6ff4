"""Selection: pick a robust subset of the canonical universe; every candidate keeps its decision."""

from __future__ import annotations

import pandas as pd

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.selection.engines import ENGINES

__all__ = ["ENGINES", "SELECTION_COLUMNS", "select"]

SELECTION_COLUMNS = ("engine", "score", "rank", "n_obs", "selected", "reason")


def select(
    returns: pd.DataFrame, candidates: pd.DataFrame, engine: str, **params: object
) -> pd.DataFrame:
    """Run a selection engine over one day's candidates.

    Parameters
    ----------
    returns : DataFrame
        Daily simple returns, index market dates, one column per symbol, NaN off-session.
    candidates : DataFrame
        One row per candidate with at least ``symbol`` and ``direction`` (LONG/SHORT);
        optional ``sleeve`` and ``sessions_per_year`` (default 252).
    engine : str
        A name from ``ENGINES``.
    **params
        Engine parameters (``top_n``, ``min_obs`` for momentum).

    Returns
    -------
    DataFrame
        The candidates with ``SELECTION_COLUMNS`` added; one row per candidate.

    Raises
    ------
    ConfigError
        Unknown engine or parameter.
    DataError
        Candidates miss a required column.
    """
    if engine not in ENGINES:
        raise ConfigError(f"selection engine {engine!r}: unknown (known: {', '.join(ENGINES)})")
    missing = [c for c in ("symbol", "direction") if c not in candidates.columns]
    if missing:
        raise DataError(f"selection candidates: missing columns {missing}")
    try:
        decided = ENGINES[engine](returns, candidates.reset_index(drop=True), **params)
    except TypeError as err:
        raise ConfigError(f"selection engine {engine}: bad parameters {sorted(params)}") from err
    return decided.assign(engine=engine)
