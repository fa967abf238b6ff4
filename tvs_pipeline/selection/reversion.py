"""Mean-reversion features: lag-1 autocorrelation and the half-life of a deviation."""

from __future__ import annotations

import numpy as np

__all__ = [
    "DEFAULT_DEVIATION_WINDOW",
    "HALF_LIFE_CAP",
    "autocorrelation_columns",
    "half_life_columns",
    "log_prices",
]

DEFAULT_DEVIATION_WINDOW = 20  # the level a deviation is measured from: the last 20 closes
HALF_LIFE_CAP = 1000.0  # sessions: what a series that does not revert reads


def log_prices(aligned: np.ndarray) -> np.ndarray:
    """Log price of every column from its own returns (0 before its first return, NaN above).

    Parameters
    ----------
    aligned : ndarray
        Shape ``(T, K)``: simple returns bottom-aligned (`bottom_align`), NaN above.

    Returns
    -------
    ndarray
        Shape ``(T, K)``: ``ln P_t = sum of ln(1 + r)`` up to row ``t``, NaN where ``aligned``
        is NaN.
    """
    logs = np.log1p(np.where(np.isfinite(aligned), aligned, 0.0))
    return np.where(np.isfinite(aligned), np.cumsum(logs, axis=0), np.nan)


def autocorrelation_columns(aligned: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of every column's returns, on its own sessions.

    ``rho_1 = sum (r_t - m)(r_{t-1} - m) / sum (r_t - m)^2`` with ``m`` the column's mean
    (the standard estimator, Box and Jenkins): white noise reads about ``-1/n``, with a standard
    deviation of ``1/sqrt(n)`` (0.054 at 342 returns); an AR(1) level with coefficient ``phi``
    (a mean-reverting price) gives returns whose ``rho_1`` is ``-(1 - phi) / 2``.

    Parameters
    ----------
    aligned : ndarray
        Shape ``(T, K)``, bottom-aligned returns, NaN above.

    Returns
    -------
    ndarray
        Shape ``(K,)``, in [-1, 1]; NaN for a column with fewer than 3 values or no variance.

    References
    ----------
    Box, G. E. P. and Jenkins, G. M. (1976). Time Series Analysis: Forecasting and Control.
    """
    finite = np.isfinite(aligned)
    n = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, aligned, 0.0).sum(axis=0) / n
        centred = np.where(finite, aligned - mean, 0.0)
        both = finite[1:] & finite[:-1]
        lagged = np.where(both, centred[1:] * centred[:-1], 0.0).sum(axis=0)
        variance = (centred**2).sum(axis=0)
        rho = lagged / variance
    return np.where((n >= 3) & (variance > 0), rho, np.nan)


def half_life_columns(aligned: np.ndarray, window: int = DEFAULT_DEVIATION_WINDOW) -> np.ndarray:
    """Half-life, in sessions, of every column's deviation from its recent level.

    The deviation is ``d_t = ln P_t - mean(ln P over the last window closes)``; the least-squares
    slope ``beta`` of the next log return ``ln(1 + r_{t+1})`` on ``d_t`` is the share of a
    deviation that closes in one session, so a deviation halves in ``ln 2 / -ln(1 + beta)``
    sessions (Ornstein-Uhlenbeck, discretely: ``beta = phi - 1``). A series that does not
    revert (``beta >= 0``) reads ``HALF_LIFE_CAP``; ``beta <= -1`` (overshooting) reads 0.

    Parameters
    ----------
    aligned : ndarray
        Shape ``(T, K)``, bottom-aligned simple returns, NaN above.
    window : int, default 20
        Closes the level averages (``>= 2``).

    Returns
    -------
    ndarray
        Shape ``(K,)``, in ``[0, HALF_LIFE_CAP]``; NaN for a column with fewer than
        ``window + 10`` returns.

    References
    ----------
    Chan, E. P. (2013). Algorithmic Trading: Winning Strategies and Their Rationale, ch. 2
    (the half-life of mean reversion from the regression of the change on the level).
    """
    logs = log_prices(aligned)
    finite = np.isfinite(logs)
    total = np.cumsum(np.where(finite, logs, 0.0), axis=0)
    level = np.full_like(logs, np.nan)
    level[window - 1 :] = total[window - 1 :]
    level[window:] -= total[:-window]
    count = np.full(logs.shape, 0)
    counts = np.cumsum(finite, axis=0)
    count[window - 1 :] = counts[window - 1 :]
    count[window:] -= counts[:-window]
    deviation = np.where(count == window, logs - level / window, np.nan)
    x, y = deviation[:-1], np.log1p(aligned[1:])
    pair = np.isfinite(x) & np.isfinite(y)
    n = pair.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.where(pair, x, 0.0).sum(axis=0) / n
        my = np.where(pair, y, 0.0).sum(axis=0) / n
        cov = np.where(pair, (x - mx) * (y - my), 0.0).sum(axis=0)
        var = np.where(pair, (x - mx) ** 2, 0.0).sum(axis=0)
        beta = cov / var
        half = np.log(2.0) / -np.log1p(np.clip(beta, -1.0 + 1e-12, None))
    half = np.where(beta >= 0, HALF_LIFE_CAP, np.where(beta <= -1, 0.0, half))
    return np.where((n >= 10) & (var > 0), np.minimum(half, HALF_LIFE_CAP), np.nan)
