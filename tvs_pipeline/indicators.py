"""Causal Wilder indicators (true range, ATR, +DI/-DI/ADX, RSI) over wide per-listing frames.

Also the parts of the scanner's technical rating (``Recommend.MA``, ``Recommend.Other``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pandas as pd

from tvs_pipeline.errors import ConfigError, DataError

__all__ = [
    "MA_WINDOWS",
    "MOMENTUM_LAG",
    "RSI_OVERBOUGHT",
    "RSI_OVERSOLD",
    "RSI_PERIOD",
    "rating_votes",
    "rsi",
    "true_range",
    "vote_mean",
    "wilder_adx",
    "wilder_atr",
    "wilder_dmi",
    "wilder_smooth",
]

# The technical rating's parts (the demo scanner's, methodology §13): the windows of
# Recommend.MA's moving averages; Recommend.Other's RSI period and bands, and momentum lag.
MA_WINDOWS = (10, 20, 50, 100, 200)
RSI_PERIOD, RSI_OVERSOLD, RSI_OVERBOUGHT, MOMENTUM_LAG = 14, 30.0, 70.0, 10

Frame = TypeVar("Frame", pd.DataFrame, pd.Series)


def _check_period(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"indicator period {n!r}: must be an integer >= 1")


def _check_aligned(first: Frame, *others: Frame) -> None:
    for other in others:
        if type(other) is not type(first) or not first.index.equals(other.index):
            raise DataError("indicator inputs: index differs, expected identically indexed frames")
        if isinstance(first, pd.DataFrame) and not first.columns.equals(other.columns):
            raise DataError("indicator inputs: columns differ, expected the same symbols")


def _array(values: pd.DataFrame | pd.Series) -> np.ndarray:
    """The values as a float 2-D array (rows: dates, columns: symbols)."""
    return values.to_numpy(dtype=float, copy=True).reshape(len(values), -1)


def _wrap(array: np.ndarray, like: Frame) -> Frame:
    if isinstance(like, pd.Series):
        return pd.Series(array[:, 0], index=like.index, name=like.name)
    return pd.DataFrame(array, index=like.index, columns=like.columns)


def _previous(values: np.ndarray) -> np.ndarray:
    """Each column's previous own value on rows where it has one (NaN rows skipped)."""
    valid = ~np.isnan(values)
    rows = np.where(valid, np.arange(len(values))[:, None], 0)
    np.maximum.accumulate(rows, axis=0, out=rows)
    filled = np.take_along_axis(values, rows, axis=0)
    previous = np.full_like(values, np.nan)
    previous[1:] = filled[:-1]
    previous[~valid] = np.nan
    return previous


def _smooth(values: np.ndarray, n: int) -> np.ndarray:
    """Wilder's RMA down each column: seeded with the mean of its first n values, NaN skipped."""
    valid = ~np.isnan(values)
    count = np.cumsum(valid, axis=0)
    seed = np.nancumsum(values, axis=0) / n
    start = np.where(count > n, values, np.nan)
    start = np.where(valid & (count == n), seed, start)
    smoothed = pd.DataFrame(start).ewm(alpha=1.0 / n, adjust=False, ignore_na=True).mean()
    return np.where(valid & (count >= n), smoothed.to_numpy(), np.nan)


def _true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range per bar; ``high - low`` on a column's first bar (no previous close)."""
    prev_close = _previous(close)
    widest = np.fmax(high - low, np.fmax(np.abs(high - prev_close), np.abs(low - prev_close)))
    return np.where(np.isnan(high) | np.isnan(low) | np.isnan(close), np.nan, widest)


def _dmi(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """+DI, -DI and ADX arrays; see :func:`wilder_dmi`."""
    has_previous = ~np.isnan(_previous(close))
    up = high - _previous(high)
    down = _previous(low) - low
    with np.errstate(invalid="ignore", divide="ignore"):
        plus_dm = np.where(has_previous, np.where((up > down) & (up > 0), up, 0.0), np.nan)
        minus_dm = np.where(has_previous, np.where((down > up) & (down > 0), down, 0.0), np.nan)
        range_avg = _smooth(np.where(has_previous, _true_range(high, low, close), np.nan), n)
        defined = ~np.isnan(range_avg)
        positive = range_avg > 0
        plus_di = np.where(positive, 100.0 * _smooth(plus_dm, n) / range_avg, 0.0)
        minus_di = np.where(positive, 100.0 * _smooth(minus_dm, n) / range_avg, 0.0)
        di_sum = plus_di + minus_di
        dx = np.where(di_sum > 0, 100.0 * np.abs(plus_di - minus_di) / di_sum, 0.0)
    plus_di[~defined] = np.nan
    minus_di[~defined] = np.nan
    dx[~defined] = np.nan
    return plus_di, minus_di, _smooth(dx, n)


def wilder_smooth(values: Frame, n: int) -> Frame:
    """Wilder's running average (RMA) of each column over its own non-missing rows.

    The first value is the simple mean of the first ``n`` observations; each later one is
    ``avg_t = avg_{t-1} + (x_t - avg_{t-1}) / n``. Rows where a column is NaN are skipped (they
    neither enter the average nor age it) and stay NaN in the output.

    Parameters
    ----------
    values : DataFrame or Series
        Index: dates in ascending order; columns: symbols; NaN where a listing has no value.
    n : int
        Smoothing period (``alpha = 1/n``).

    Returns
    -------
    DataFrame or Series
        Same index and columns; NaN before a column's ``n``-th observation and on its NaN rows.

    Raises
    ------
    ConfigError
        ``n`` is not an integer >= 1.

    References
    ----------
    J. Welles Wilder Jr., *New Concepts in Technical Trading Systems*, Trend Research, 1978.
    """
    _check_period(n)
    return _wrap(_smooth(_array(values), n), values)


def true_range(high: Frame, low: Frame, close: Frame) -> Frame:
    """Wilder's true range of every bar, on each listing's own bars.

    ``TR_t = max(H_t - L_t, |H_t - C_prev|, |L_t - C_prev|)`` with ``C_prev`` the listing's
    previous own close (rows where it has no bar are skipped); a listing's first bar has no
    previous close and its true range is ``H_t - L_t``.

    Parameters
    ----------
    high, low, close : DataFrame or Series
        Identically indexed; index: ascending dates; columns: symbols; NaN where no bar.

    Returns
    -------
    DataFrame or Series
        True range, same shape; NaN where the listing has no bar.

    Raises
    ------
    DataError
        The inputs are not identically indexed.

    References
    ----------
    J. Welles Wilder Jr., *New Concepts in Technical Trading Systems*, Trend Research, 1978.
    """
    _check_aligned(high, low, close)
    return _wrap(_true_range(_array(high), _array(low), _array(close)), close)


def wilder_atr(high: Frame, low: Frame, close: Frame, n: int = 14) -> Frame:
    """Average true range: Wilder's running average of :func:`true_range`.

    The first value, at a listing's ``n``-th bar, is the mean of its first ``n`` true ranges.

    Parameters
    ----------
    high, low, close : DataFrame or Series
        Identically indexed; index: ascending dates; columns: symbols; NaN where no bar.
    n : int, default 14
        Smoothing period.

    Returns
    -------
    DataFrame or Series
        ATR in price units, same shape; NaN before the ``n``-th bar and where there is no bar.

    Raises
    ------
    ConfigError
        ``n`` is not an integer >= 1.
    DataError
        The inputs are not identically indexed.

    References
    ----------
    J. Welles Wilder Jr., *New Concepts in Technical Trading Systems*, Trend Research, 1978.
    """
    _check_period(n)
    _check_aligned(high, low, close)
    return _wrap(_smooth(_true_range(_array(high), _array(low), _array(close)), n), close)


def wilder_dmi(high: Frame, low: Frame, close: Frame, n: int = 14) -> tuple[Frame, Frame, Frame]:
    """Wilder's directional movement system: +DI, -DI and ADX.

    On each listing's own bars: ``up = H_t - H_prev``, ``down = L_prev - L_t``;
    ``+DM = up if up > down and up > 0 else 0``, ``-DM = down if down > up and down > 0 else 0``;
    ``+DI = 100 RMA(+DM) / RMA(TR)``, ``-DI = 100 RMA(-DM) / RMA(TR)`` (0 when the smoothed range
    is 0); ``DX = 100 |+DI - -DI| / (+DI + -DI)`` (0 when both are 0); ``ADX = RMA(DX)``. RMA is
    :func:`wilder_smooth` with period ``n``. The first bar has no previous bar, so +DI/-DI start at
    bar ``n`` (0-based) and ADX at bar ``2n - 1``.

    Parameters
    ----------
    high, low, close : DataFrame or Series
        Identically indexed; index: ascending dates; columns: symbols; NaN where no bar.
    n : int, default 14
        Period of every smoothing.

    Returns
    -------
    tuple of DataFrame or Series
        ``(plus_di, minus_di, adx)``, each the shape of ``close``, on a 0-100 scale.

    Raises
    ------
    ConfigError
        ``n`` is not an integer >= 1.
    DataError
        The inputs are not identically indexed.

    References
    ----------
    J. Welles Wilder Jr., *New Concepts in Technical Trading Systems*, Trend Research, 1978.
    """
    _check_period(n)
    _check_aligned(high, low, close)
    parts = _dmi(_array(high), _array(low), _array(close), n)
    plus_di, minus_di, adx = (_wrap(part, close) for part in parts)
    return plus_di, minus_di, adx


def wilder_adx(high: Frame, low: Frame, close: Frame, n: int = 14) -> Frame:
    """Average directional index (trend strength, 0-100) of each listing; see :func:`wilder_dmi`.

    Parameters
    ----------
    high, low, close : DataFrame or Series
        Identically indexed; index: ascending dates; columns: symbols; NaN where no bar.
    n : int, default 14
        Period of every smoothing.

    Returns
    -------
    DataFrame or Series
        ADX, same shape; NaN before a listing's bar ``2n - 1`` (0-based) and where it has no bar.

    Raises
    ------
    ConfigError
        ``n`` is not an integer >= 1.
    DataError
        The inputs are not identically indexed.

    References
    ----------
    J. Welles Wilder Jr., *New Concepts in Technical Trading Systems*, Trend Research, 1978.
    """
    _check_period(n)
    _check_aligned(high, low, close)
    return _wrap(_dmi(_array(high), _array(low), _array(close), n)[2], close)


def rsi(close: Frame, n: int = 14) -> Frame:
    """Wilder's relative strength index (0-100) of each listing, on its own closes.

    ``RSI = 100 - 100 / (1 + RMA(gain) / RMA(loss))`` with ``gain``/``loss`` the positive and
    negative parts of the change from the previous own close; 100 when the average loss is 0
    (50 when the average gain is 0 as well). The first value is at bar ``n`` (0-based).

    Parameters
    ----------
    close : DataFrame or Series
        Index: dates; columns: symbols; NaN where a listing has no bar.
    n : int, default 14
        Smoothing period.

    Returns
    -------
    DataFrame or Series
        RSI, same shape; NaN before bar ``n`` and where the listing has no bar.

    Raises
    ------
    ConfigError
        ``n`` is not an integer >= 1.

    References
    ----------
    J. Welles Wilder Jr., *New Concepts in Technical Trading Systems*, Trend Research, 1978.
    """
    _check_period(n)
    values = _array(close)
    change = values - _previous(values)
    gain = _smooth(np.where(change > 0, change, np.where(np.isnan(change), np.nan, 0.0)), n)
    loss = _smooth(np.where(change < 0, -change, np.where(np.isnan(change), np.nan, 0.0)), n)
    with np.errstate(invalid="ignore", divide="ignore"):
        strength = 100.0 - 100.0 / (1.0 + gain / loss)
    strength = np.where(loss > 0, strength, np.where(gain > 0, 100.0, 50.0))
    return _wrap(np.where(np.isnan(gain), np.nan, strength), close)


def rating_votes(
    close: np.ndarray, average: Callable[[np.ndarray, int], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """``Recommend.MA`` and ``Recommend.Other`` of every column on every row (causal).

    ``Recommend.MA`` = mean of ``sign(close - SMA_n)`` over the windows of ``MA_WINDOWS`` the
    history covers; ``Recommend.Other`` = mean of the RSI(14) vote (+1 below 30, -1 above 70,
    else 0) and the sign of the 10-row momentum, where available; NaN where no part is.
    ``Recommend.All`` is ``vote_mean([ma, other])``.

    Parameters
    ----------
    close : ndarray
        Shape ``(T, K)``, rows in time order, each column's closes in one unbroken run
        (NaN above or below it).
    average : callable
        ``average(close, n)``: the ``n``-row simple moving average, NaN before a column's
        ``n``-th close. Passed in because the callers' layouts want different ones (a running
        sum serves top-aligned columns; NaN above a column needs a rolling window).

    Returns
    -------
    tuple of ndarray
        ``(ma, other)``, each shaped like ``close``, in [-1, 1].
    """
    ma = vote_mean([np.sign(close - average(close, n)) for n in MA_WINDOWS])
    strength = rsi(pd.DataFrame(close), RSI_PERIOD).to_numpy()
    rsi_vote = np.where(
        strength < RSI_OVERSOLD, 1.0, np.where(strength > RSI_OVERBOUGHT, -1.0, 0.0)
    )
    rsi_vote[np.isnan(strength)] = np.nan
    momentum = np.full_like(close, np.nan)
    momentum[MOMENTUM_LAG:] = np.sign(close[MOMENTUM_LAG:] - close[:-MOMENTUM_LAG])
    return ma, vote_mean([rsi_vote, momentum])


def vote_mean(votes: list[np.ndarray]) -> np.ndarray:
    """Mean of the available (non-NaN) votes; NaN where none is available."""
    stacked = np.stack(votes)
    count = np.sum(~np.isnan(stacked), axis=0)
    return np.where(count > 0, np.nansum(stacked, axis=0) / np.maximum(count, 1), np.nan)
