"""One day's selection from the lake's frames: the panel and dedup's candidates in."""

from __future__ import annotations

from datetime import date

import pandas as pd

from tvs_pipeline.funnel.history import assert_not_after
from tvs_pipeline.funnel.normalization import wide_returns
from tvs_pipeline.selection import select
from tvs_pipeline.selection.params import SelectionParams

__all__ = ["CANDIDATE_NAMES", "select_day"]

# dedup's column -> the name select() reads
CANDIDATE_NAMES = {"value_traded_usd": "value_traded", "adx_14": "adx"}


def select_day(
    panel: pd.DataFrame,
    dedup: pd.DataFrame,
    params: SelectionParams,
    as_of: date,
    engine: str,
) -> pd.DataFrame:
    """One day's decisions from the OK listings' panel and dedup's candidates.

    Parameters
    ----------
    panel : DataFrame
        The ``normalization`` rows of day D (long: ``symbol``, ``market_date``, ``ret`` ...).
    dedup : DataFrame
        The ``dedup`` rows of day D (one candidate per identity, logic and direction).
    params : SelectionParams
        The profile's selection parameters (``SelectionConfig.params()``).
    as_of : date
        Day D; the panel must hold nothing after it.
    engine : str
        The selection engine (the role's, ``SelectionConfig.engine_for``).

    Returns
    -------
    DataFrame
        `tvs_pipeline.selection.select`'s decisions, one row per candidate.

    Raises
    ------
    LookAheadError
        The panel holds a market date after ``as_of``.
    """
    assert_not_after(panel, as_of)
    candidates = dedup.rename(columns=CANDIDATE_NAMES)
    return select(wide_returns(panel), candidates, engine, params)
