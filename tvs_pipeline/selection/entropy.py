"""Permutation entropy of return series, normalised to [0, 1] by ln(order!)."""

from __future__ import annotations

import math

import numpy as np

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.aligned import as_series

__all__ = [
    "MAX_ORDER",
    "MIN_ORDER",
    "check_entropy_parameters",
    "permutation_entropy",
    "permutation_entropy_columns",
]

MIN_ORDER, MAX_ORDER = 2, 7  # 7! = 5,040 patterns: beyond that no window of returns fills them


def check_entropy_parameters(order: int, delay: int) -> None:
    """Raise ``ConfigError`` unless ``order`` is in [2, 7] and ``delay`` is at least 1."""
    if isinstance(order, bool) or not isinstance(order, int | np.integer):
        raise ConfigError(f"permutation entropy: order must be an integer, got {order!r}")
    if isinstance(delay, bool) or not isinstance(delay, int | np.integer):
        raise ConfigError(f"permutation entropy: delay must be an integer, got {delay!r}")
    if not MIN_ORDER <= order <= MAX_ORDER:
        raise ConfigError(
            f"permutation entropy: order {order} is outside [{MIN_ORDER}, {MAX_ORDER}]"
        )
    if delay < 1:
        raise ConfigError(f"permutation entropy: delay {delay} must be at least 1")


def permutation_entropy_columns(values: np.ndarray, order: int = 3, delay: int = 1) -> np.ndarray:
    """Normalised permutation entropy of every column of a matrix.

    For each start ``t`` the embedding vector ``(x_t, x_{t+d}, ..., x_{t+(m-1)d})`` (``m`` the
    order, ``d`` the delay) is mapped to its ordinal pattern, the permutation that sorts it;
    equal values keep their order of appearance. Vectors holding a NaN are skipped. The
    entropy is ``H = -sum p_pi ln p_pi`` over the observed pattern frequencies, divided by
    ``ln(m!)``, so a series with a single pattern reads 0 and one whose ``m!`` patterns are
    equally frequent reads 1. Patterns are counted for all columns at once (Lehmer codes and
    one ``bincount``).

    Parameters
    ----------
    values : ndarray
        Shape ``(T, K)``, float: rows in time order, one column per series, NaN allowed.
    order : int, default 3
        Embedding dimension ``m``, in [2, 7].
    delay : int, default 1
        Lag ``d`` between the elements of a vector, at least 1.

    Returns
    -------
    ndarray
        Shape ``(K,)``: entropy in [0, 1]; NaN for a column without a complete vector.

    Raises
    ------
    ConfigError
        ``order`` or ``delay`` is out of range.

    References
    ----------
    Bandt, C. and Pompe, B. (2002). Permutation entropy: a natural complexity measure for time
    series. Physical Review Letters 88, 174102.
    """
    check_entropy_parameters(order, delay)
    values = np.asarray(values, dtype="float64")
    rows, cols = values.shape
    span = (order - 1) * delay
    if rows <= span or cols == 0:
        return np.full(cols, np.nan)
    n_vectors = rows - span
    parts = [values[i * delay : i * delay + n_vectors] for i in range(order)]
    valid = np.ones((n_vectors, cols), dtype=bool)
    for part in parts:
        valid &= np.isfinite(part)
    # Lehmer code: c_i = #{j > i : x_j < x_i}; code = sum c_i (m - 1 - i)!, a bijection from
    # the m! ordinal patterns (ties broken by position) onto 0 .. m! - 1.
    code = np.zeros((n_vectors, cols), dtype=np.int64)
    for i in range(order - 1):
        smaller = np.zeros((n_vectors, cols), dtype=np.int64)
        for j in range(i + 1, order):
            smaller += parts[j] < parts[i]
        code += smaller * math.factorial(order - 1 - i)
    n_patterns = math.factorial(order)
    column = np.broadcast_to(np.arange(cols, dtype=np.int64), (n_vectors, cols))
    flat = column[valid] * n_patterns + code[valid]
    counts = np.bincount(flat, minlength=cols * n_patterns).reshape(cols, n_patterns)
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = counts / total
        terms = np.where(counts > 0, p * np.log(np.where(counts > 0, p, 1.0)), 0.0)
    entropy = 0.0 - terms.sum(axis=1) / math.log(n_patterns)  # 0.0, never -0.0
    entropy = np.clip(entropy, 0.0, 1.0)
    entropy[total[:, 0] == 0] = np.nan
    return entropy


def permutation_entropy(x: object, order: int = 3, delay: int = 1) -> float:
    """Normalised permutation entropy of one return series.

    NaN values are dropped first (the series is read on its own sessions); see
    `permutation_entropy_columns` for the definition.

    Parameters
    ----------
    x : array-like
        1-D returns.
    order : int, default 3
        Embedding dimension, in [2, 7].
    delay : int, default 1
        Lag between the elements of an embedding vector, at least 1.

    Returns
    -------
    float
        In [0, 1]: 0 for a monotone series, close to 1 for white noise; NaN when fewer than
        ``(order - 1) * delay + 1`` values remain.

    Raises
    ------
    ConfigError
        ``order`` or ``delay`` is out of range.
    DataError
        ``x`` is not one-dimensional.
    """
    series = as_series(x)
    return float(permutation_entropy_columns(series[:, None], order, delay)[0])
