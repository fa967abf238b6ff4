"""The technical rating of a listing read back from its returns, and how well it predicted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.indicators import rating_votes, vote_mean
from tvs_pipeline.selection.reversion import log_prices

__all__ = [
    "DEFAULT_RATING_HORIZON",
    "rating_ic_columns",
    "technical_rating",
]

DEFAULT_RATING_HORIZON = 10  # sessions: the rating logic's holding horizon


def technical_rating(close: pd.DataFrame) -> pd.DataFrame:
    """``Recommend.All`` of every column on every row, from its closes only (causal).

    ``Recommend.MA`` = mean of ``sign(close - SMA_n)`` over the windows (10, 20, 50, 100, 200) the
    history covers; ``Recommend.Other`` = mean of the RSI(14) vote (+1 below 30, -1 above 70,
    else 0) and the sign of the 10-row momentum, where available; the rating is the mean of the
    two available parts (NaN when neither is). The scale of the closes does not matter, so
    closes rebuilt from returns read the rating the scanner shows (`DemoMarket.snapshot`).

    Parameters
    ----------
    close : DataFrame
        Rows in time order, one column per listing, NaN above a listing's first close.

    Returns
    -------
    DataFrame
        Same shape, in [-1, 1].
    """
    ma, other = rating_votes(close.to_numpy(dtype="float64"), _rolling_average)
    rating = vote_mean([ma, other])
    return pd.DataFrame(rating, index=close.index, columns=close.columns)


def rating_ic_columns(aligned: np.ndarray, horizon: int = DEFAULT_RATING_HORIZON) -> np.ndarray:
    """How well each column's technical rating predicted its next ``horizon`` sessions.

    The information coefficient: the Pearson correlation, over the rows of the window where both
    exist, between the rating at the close of ``t`` (`technical_rating` on the closes rebuilt
    from the returns) and the log return from ``t`` to ``t + horizon``. Both ends lie inside the
    window handed in, so nothing after its last row is read. A listing whose rating carries a
    signal reads above 0; a trend or a random walk, whose expected return does not depend on its
    rating, reads about 0; a mean-reverting listing reads below 0 (its rating is late).

    Parameters
    ----------
    aligned : ndarray
        Shape ``(T, K)``, bottom-aligned simple returns, NaN above.
    horizon : int, default 10
        Sessions of the forward return (``>= 1``).

    Returns
    -------
    ndarray
        Shape ``(K,)``, in [-1, 1]; NaN with fewer than 30 pairs or no variance.
    """
    # one row on top: the close before each column's first return (log price 0) is a close too
    padded = np.vstack([np.full((1, aligned.shape[1]), np.nan), aligned])
    logs = log_prices(padded)
    first = np.argmax(np.isfinite(padded), axis=0)
    has = np.isfinite(padded).any(axis=0)
    logs[first[has] - 1, np.flatnonzero(has)] = 0.0
    rating = technical_rating(pd.DataFrame(np.exp(logs))).to_numpy()
    forward = np.full_like(logs, np.nan)
    forward[:-horizon] = logs[horizon:] - logs[:-horizon]
    pair = np.isfinite(rating) & np.isfinite(forward)
    n = pair.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.where(pair, rating, 0.0).sum(axis=0) / n
        my = np.where(pair, forward, 0.0).sum(axis=0) / n
        dx, dy = np.where(pair, rating - mx, 0.0), np.where(pair, forward - my, 0.0)
        sxx, syy = (dx**2).sum(axis=0), (dy**2).sum(axis=0)
        ic = (dx * dy).sum(axis=0) / np.sqrt(sxx * syy)
    return np.where((n >= 30) & (sxx > 0) & (syy > 0), ic, np.nan)


def _rolling_average(values: np.ndarray, n: int) -> np.ndarray:
    """The ``n``-row simple moving average down columns with NaN above their first close."""
    return pd.DataFrame(values).rolling(n, min_periods=n).mean().to_numpy()
