"""The technical rating of a listing read back from its returns, and how well it predicted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.selection.reversion import log_prices

__all__ = [
    "DEFAULT_RATING_HORIZON",
    "MA_WINDOWS",
    "rating_ic_columns",
    "technical_rating",
]

MA_WINDOWS = (10, 20, 50, 100, 200)  # TradingView's Recommend.MA windows (the demo's too)
RSI_PERIOD, RSI_OVERSOLD, RSI_OVERBOUGHT, MOMENTUM_LAG = 14, 30.0, 70.0, 10
DEFAULT_RATING_HORIZON = 10  # sessions: the rating logic's holding horizon


def technical_rating(close: pd.DataFrame) -> pd.DataFrame:
    """``Recommend.All`` of every column on every row, from its closes only (causal).

    ``Recommend.MA`` = mean of ``sign(close - SMA_n)`` over the windows of ``MA_WINDOWS`` the
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
    values = close.to_numpy(dtype="float64")
    votes = []
    for n in MA_WINDOWS:
        average = close.rolling(n, min_periods=n).mean().to_numpy()
        votes.append(np.where(np.isfinite(average), np.sign(values - average), np.nan))
    strength = _rsi(values)
    rsi_vote = np.where(
        strength < RSI_OVERSOLD, 1.0, np.where(strength > RSI_OVERBOUGHT, -1.0, 0.0)
    )
    rsi_vote = np.where(np.isfinite(strength), rsi_vote, np.nan)
    momentum = np.full_like(values, np.nan)
    momentum[MOMENTUM_LAG:] = np.sign(values[MOMENTUM_LAG:] - values[:-MOMENTUM_LAG])
    rating = _mean([_mean(votes), _mean([rsi_vote, momentum])])
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


def _rsi(values: np.ndarray, n: int = RSI_PERIOD) -> np.ndarray:
    """Wilder's RSI down top-padded columns (as `tvs_pipeline.funnel.indicators.rsi`).

    Gains and losses are smoothed with Wilder's average seeded by the mean of the first ``n``
    changes; 100 when the average loss is 0 (50 when the gain is 0 too); NaN before bar ``n``.
    """
    change = np.full_like(values, np.nan)
    change[1:] = values[1:] - values[:-1]
    averages = []
    for part in (np.maximum(change, 0.0), np.maximum(-change, 0.0)):
        part = np.where(np.isfinite(change), part, np.nan)
        valid = np.isfinite(part)
        count = np.cumsum(valid, axis=0)
        seed = np.nancumsum(part, axis=0) / n
        start = np.where(count > n, part, np.nan)
        start = np.where(valid & (count == n), seed, start)
        smooth = pd.DataFrame(start).ewm(alpha=1.0 / n, adjust=False, ignore_na=True).mean()
        averages.append(np.where(valid & (count >= n), smooth.to_numpy(), np.nan))
    gain, loss = averages
    with np.errstate(invalid="ignore", divide="ignore"):
        strength = 100.0 - 100.0 / (1.0 + gain / loss)
    strength = np.where(loss > 0, strength, np.where(gain > 0, 100.0, 50.0))
    return np.where(np.isfinite(gain), strength, np.nan)


def _mean(parts: list[np.ndarray]) -> np.ndarray:
    """Mean of the available (finite) parts, NaN where none is."""
    stacked = np.stack(parts)
    count = np.isfinite(stacked).sum(axis=0)
    total = np.where(np.isfinite(stacked), stacked, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)
