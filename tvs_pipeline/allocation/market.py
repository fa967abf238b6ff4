"""The market of a day as allocation reads it: the universe index and its regime.

One row per universe session of the trailing window: the equal-weight index return of the
OK listings (the benchmark a market-neutral book is hedged against), and the day's regime
reading on every row (`tvs_pipeline.allocation.regime`).
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from tvs_pipeline.allocation.regime import (
    Regime,
    RegimeThresholds,
    detect_regime,
    universe_sessions,
)
from tvs_pipeline.errors import DataError
from tvs_pipeline.funnel.history import assert_not_after
from tvs_pipeline.funnel.normalization import wide_returns

__all__ = ["MARKET_COLUMNS", "market_day", "universe_index"]

MARKET_COLUMNS = (
    "market_date",
    "index_return",
    "regime",
    "vol_ratio",
    "turbulence",
    "tail_share",
    "regime_note",
)


def universe_index(returns: pd.DataFrame, min_coverage: float) -> pd.Series:
    """The equal-weight index of the universe: the mean observed return of each session.

    Rows that are not universe sessions (`universe_sessions`: a crypto-only weekend in a
    mixed universe) are left out, as the regime detector leaves them out.
    """
    sessions = universe_sessions(returns, min_coverage)
    return returns.loc[sessions.to_numpy()].mean(axis=1, skipna=True).rename("index_return")


def market_day(
    panel: pd.DataFrame, as_of: date, thresholds: RegimeThresholds, rows: int
) -> pd.DataFrame:
    """The universe index over the last ``rows`` sessions and the regime of ``as_of``.

    Parameters
    ----------
    panel : DataFrame
        The ``normalization`` rows of day D (``symbol``, ``market_date``, ``ret``): the OK
        listings' returns over the lookback.
    as_of : date
        Day D; the panel holds nothing after it.
    thresholds : RegimeThresholds
        The detector's settings.
    rows : int
        Sessions of index returns to keep (the allocation's estimation window).

    Returns
    -------
    DataFrame
        ``MARKET_COLUMNS``, one row per session. A lookback too short for the detector
        reads NORMAL, and ``regime_note`` says why; otherwise the note is empty.

    Raises
    ------
    LookAheadError
        The panel holds a market date after ``as_of``.
    """
    assert_not_after(panel, as_of)
    returns = wide_returns(panel)
    if returns.empty:
        return pd.DataFrame(columns=list(MARKET_COLUMNS))
    index = universe_index(returns, thresholds.min_coverage).iloc[-rows:]
    try:
        reading = detect_regime(returns, as_of, thresholds)
        label, note = reading.label.value, ""
        features = (reading.vol_ratio, reading.turbulence, reading.tail_share)
    except DataError as err:
        label, note = Regime.NORMAL.value, f"read as NORMAL: {err}"
        features = (float("nan"),) * 3
    return pd.DataFrame(
        {
            "market_date": index.index,
            "index_return": index.to_numpy(dtype="float64"),
            "regime": label,
            "vol_ratio": features[0],
            "turbulence": features[1],
            "tail_share": features[2],
            "regime_note": note,
        }
    )
