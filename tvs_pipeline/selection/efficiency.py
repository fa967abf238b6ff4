"""Kaufman's efficiency ratio on returns: net move over path length."""

from __future__ import annotations

import numpy as np

from tvs_pipeline.selection.aligned import as_series

__all__ = ["efficiency_columns", "efficiency_ratio"]


def efficiency_columns(values: np.ndarray, signed: bool = False) -> np.ndarray:
    """Efficiency ratio of every column: ``|sum r| / sum |r|`` over its finite values.

    Parameters
    ----------
    values : ndarray
        Shape ``(T, K)``: returns, NaN where a column has no observation (skipped).
    signed : bool, default False
        Return ``sum r / sum |r|`` instead, in [-1, 1]: the sign says which way the net move
        went (the directional efficiency that the efficiency floor reads).

    Returns
    -------
    ndarray
        Shape ``(K,)``: in [0, 1] (or [-1, 1] when signed); 1 for a series that moves one way
        only, about ``|Z| / (0.8 sqrt(n))`` for ``n`` values of white noise; 0 when every
        value is zero; NaN for a column without values.

    References
    ----------
    Kaufman, P. J. (1995). Smarter Trading. McGraw-Hill (the efficiency ratio of the adaptive
    moving average, here on returns: the net change over the sum of absolute changes).
    """
    values = np.asarray(values, dtype="float64")
    finite = np.isfinite(values)
    filled = np.where(finite, values, 0.0)
    net = filled.sum(axis=0)
    path = np.abs(filled).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(path > 0, net / path, 0.0)
    ratio = ratio if signed else np.abs(ratio)
    return np.where(finite.any(axis=0), ratio, np.nan)


def efficiency_ratio(x: object) -> float:
    """Efficiency ratio of one return series: ``|sum r| / sum |r|``.

    NaN values are dropped first (the series is read on its own sessions).

    Parameters
    ----------
    x : array-like
        1-D returns.

    Returns
    -------
    float
        In [0, 1]: 1 for a one-way series, near 0 for noise; 0 when every return is zero;
        NaN for an empty series.

    Raises
    ------
    DataError
        ``x`` is not one-dimensional.
    """
    series = as_series(x)
    return float(efficiency_columns(series[:, None])[0])
