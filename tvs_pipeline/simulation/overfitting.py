"""Luck against skill: the deflated Sharpe ratio and the probability of backtest overfitting."""

from __future__ import annotations

import math
import operator
from itertools import combinations
from statistics import NormalDist

import numpy as np
import pandas as pd

from tvs_pipeline.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_SPLITS",
    "deflated_sharpe_ratio",
    "distinct_trials",
    "expected_max_sharpe",
    "pbo_logits",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
]

# C(16, 8) = 12,870 combinations; 500 daily rows give blocks of 31 rows.
DEFAULT_SPLITS = 16
# A per-period standard deviation below this is treated as zero: the Sharpe ratio is then 0.
ZERO_FLOOR = 1e-12
# Combinations evaluated at once: bounds memory to a few (chunk × strategies) float arrays.
CHUNK = 4096
# distinct_trials compares these first rows before whole columns.
PRESCREEN_ROWS = 8
_NORMAL = NormalDist()


def _count(value: object, name: str, minimum: int, subject: str) -> int:
    """An integer count of at least ``minimum`` (bool refused), else a DataError."""
    if isinstance(value, bool):
        raise DataError(f"{subject}: {name} is {value!r}, expected an integer ≥ {minimum}")
    try:
        count = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise DataError(
            f"{subject}: {name} is {value!r}, expected an integer ≥ {minimum}"
        ) from None
    if count < minimum:
        raise DataError(f"{subject}: {name} is {count}, expected an integer ≥ {minimum}")
    return count


def _finite(value: object, name: str, subject: str) -> float:
    """A finite real number, else a DataError."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"{subject}: {name} is {value!r}, expected a finite number") from None
    if not math.isfinite(number):
        raise DataError(f"{subject}: {name} is {number!r}, expected a finite number")
    return number


def _psr(
    sharpe: float, benchmark: float, n_obs: int, skew: float, kurtosis: float, subject: str
) -> float:
    """The probabilistic Sharpe ratio on validated numbers."""
    spread = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not spread > 0.0:
        raise DataError(
            f"{subject}: 1 − skew·SR + (kurtosis − 1)/4·SR² is {spread!r}, expected positive "
            f"(sharpe {sharpe!r}, skew {skew!r}, kurtosis {kurtosis!r})"
        )
    z = (sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(spread)
    return _NORMAL.cdf(z)


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, n_obs: int, skew: float, kurtosis: float
) -> float:
    """Probability that the true Sharpe ratio exceeds ``benchmark``, given the observed one.

    ``PSR = Φ( (SR − SR*)·√(T − 1) / √(1 − γ₃·SR + (γ₄ − 1)/4·SR²) )`` with ``SR`` the
    observed per-period Sharpe ratio, ``SR*`` the benchmark, ``T`` the number of returns,
    ``γ₃`` their skewness and ``γ₄`` their kurtosis (non-excess: 3 for a normal law).

    Parameters
    ----------
    sharpe : float
        Observed Sharpe ratio per period (mean / standard deviation, not annualised).
    benchmark : float
        Sharpe ratio per period to beat (0: "is there any edge at all?").
    n_obs : int
        Number of return observations ``T``, at least 2.
    skew : float
        Skewness of the returns.
    kurtosis : float
        Kurtosis of the returns, non-excess (a normal law has 3).

    Returns
    -------
    float
        A probability in ``[0, 1]``.

    Raises
    ------
    DataError
        If a number is not finite, ``n_obs`` is not an integer ≥ 2, or
        ``1 − skew·SR + (kurtosis − 1)/4·SR²`` is not positive.

    References
    ----------
    Bailey, D. H. and López de Prado, M. (2012), "The Sharpe ratio efficient frontier",
    Journal of Risk 15(2), 3-44.
    """
    subject = "probabilistic_sharpe_ratio"
    return _psr(
        _finite(sharpe, "sharpe", subject),
        _finite(benchmark, "benchmark", subject),
        _count(n_obs, "n_obs", 2, subject),
        _finite(skew, "skew", subject),
        _finite(kurtosis, "kurtosis", subject),
        subject,
    )


def _max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """The expected maximum Sharpe ratio of noise on validated numbers."""
    if n_trials == 1:
        return 0.0
    gamma = float(np.euler_gamma)
    z = (1.0 - gamma) * _NORMAL.inv_cdf(1.0 - 1.0 / n_trials) + gamma * _NORMAL.inv_cdf(
        1.0 - 1.0 / (n_trials * math.e)
    )
    return math.sqrt(sharpe_variance) * z


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Expected largest Sharpe ratio among ``n_trials`` independent trials without skill.

    ``SR₀ = √V · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)))`` with ``γ`` the
    Euler–Mascheroni constant, ``N`` the trials and ``V`` the variance of their Sharpe ratios
    (the false strategy theorem's approximation to the maximum of ``N`` normal draws of mean 0).
    One trial selects nothing: ``SR₀ = 0``.

    Parameters
    ----------
    n_trials : int
        Number of independent trials ``N`` (distinct strategies tried, see
        :func:`distinct_trials`), at least 1.
    sharpe_variance : float
        Variance across the trials of their per-period Sharpe ratios, ``≥ 0``.

    Returns
    -------
    float
        ``SR₀`` per period, ``≥ 0``.

    Raises
    ------
    DataError
        If ``n_trials`` is not an integer ≥ 1 or ``sharpe_variance`` is not a finite
        number ≥ 0.

    References
    ----------
    Bailey, D. H. and López de Prado, M. (2014), "The deflated Sharpe ratio: correcting for
    selection bias, backtest overfitting and non-normality", Journal of Portfolio
    Management 40(5), 94-107.
    """
    subject = "expected_max_sharpe"
    n = _count(n_trials, "n_trials", 1, subject)
    variance = _variance(sharpe_variance, subject)
    return _max_sharpe(n, variance)


def _variance(value: object, subject: str) -> float:
    """A finite variance ≥ 0, else a DataError."""
    variance = _finite(value, "sharpe_variance", subject)
    if variance < 0.0:
        raise DataError(f"{subject}: sharpe_variance is {variance!r}, expected ≥ 0")
    return variance


def deflated_sharpe_ratio(
    sharpe: float,
    n_trials: int,
    sharpe_variance: float,
    n_obs: int,
    skew: float,
    kurtosis: float,
) -> float:
    """Probability that the selected strategy's true Sharpe ratio beats the best of luck.

    The probabilistic Sharpe ratio (:func:`probabilistic_sharpe_ratio`) against the expected
    maximum Sharpe ratio of ``N`` trials without skill (:func:`expected_max_sharpe`):
    ``DSR = Φ( (SR − SR₀)·√(T − 1) / √(1 − γ₃·SR + (γ₄ − 1)/4·SR²) )``. With one trial
    ``SR₀ = 0`` and the DSR is the PSR against 0. 0.95 is the usual bar.

    Parameters
    ----------
    sharpe : float
        Observed Sharpe ratio per period of the selected strategy (not annualised).
    n_trials : int
        Number of independent trials ``N`` behind the selection (see :func:`distinct_trials`),
        at least 1.
    sharpe_variance : float
        Variance across the trials of their per-period Sharpe ratios, ``≥ 0``.
    n_obs : int
        Number of return observations ``T`` of the selected strategy, at least 2.
    skew : float
        Skewness of the selected strategy's returns.
    kurtosis : float
        Kurtosis of the selected strategy's returns, non-excess (a normal law has 3).

    Returns
    -------
    float
        A probability in ``[0, 1]``.

    Raises
    ------
    DataError
        If a number is not finite, ``n_trials`` is not an integer ≥ 1, ``n_obs`` not an
        integer ≥ 2, ``sharpe_variance`` is negative, or
        ``1 − skew·SR + (kurtosis − 1)/4·SR²`` is not positive.

    References
    ----------
    Bailey, D. H. and López de Prado, M. (2014), "The deflated Sharpe ratio: correcting for
    selection bias, backtest overfitting and non-normality", Journal of Portfolio
    Management 40(5), 94-107.
    """
    subject = "deflated_sharpe_ratio"
    sr = _finite(sharpe, "sharpe", subject)
    n = _count(n_trials, "n_trials", 1, subject)
    variance = _variance(sharpe_variance, subject)
    t = _count(n_obs, "n_obs", 2, subject)
    gamma3 = _finite(skew, "skew", subject)
    gamma4 = _finite(kurtosis, "kurtosis", subject)
    return _psr(sr, _max_sharpe(n, variance), t, gamma3, gamma4, subject)


def _returns_matrix(returns: pd.DataFrame, subject: str) -> np.ndarray:
    """The frame's values as a float matrix (rows × columns), else a DataError."""
    if not isinstance(returns, pd.DataFrame):
        raise DataError(f"{subject}: returns is a {type(returns).__name__}, expected a DataFrame")
    try:
        return returns.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise DataError(f"{subject}: returns hold a non-numeric column ({err})") from err


def pbo_logits(returns: pd.DataFrame, n_splits: int = DEFAULT_SPLITS) -> np.ndarray:
    """Logit of the in-sample winner's out-of-sample rank, one per CSCV combination.

    Combinatorially symmetric cross-validation (CSCV). The last ``S·⌊T/S⌋`` rows are cut
    into ``S = n_splits`` contiguous blocks of ``m = ⌊T/S⌋`` rows (the ``T mod S`` oldest
    rows are dropped). For each of the ``C(S, S/2)`` sets of ``S/2`` blocks (in the order of
    ``itertools.combinations(range(S), S/2)``), those blocks are in sample and the others
    out of sample; each strategy's performance on a half is its Sharpe ratio per period
    (mean / standard deviation, ddof 1; 0 when its returns are constant over the half, or
    their standard deviation is below 1e-12, so a strategy out of the market neither wins
    nor loses and never divides by zero). The in-sample winner ``n*`` is the column with
    the highest in-sample Sharpe (the first such column on a tie). Its out-of-sample rank
    among the ``N`` strategies, ascending, ties sharing their average rank (1 = worst,
    ``N`` = best), gives ``ω̄ = rank / (N + 1)`` and ``λ = ln(ω̄ / (1 − ω̄))``.

    Each half's Sharpe comes from per-block sums and sums of squares of the returns (less
    each column's mean, which leaves the variance unchanged and keeps the sums well
    conditioned), so a combination costs two small matrix products.

    Parameters
    ----------
    returns : pandas.DataFrame
        Index: periods in time order, oldest first; columns: strategies (at least 2);
        values: finite per-period returns (a strategy out of the market earns 0, not NaN).
    n_splits : int, default 16
        Number of blocks ``S``: even, at least 2.

    Returns
    -------
    numpy.ndarray
        ``C(S, S/2)`` floats ``λ_c``; ``λ ≤ 0`` means the in-sample winner ranked at or below
        the median out of sample.

    Raises
    ------
    ConfigError
        If ``n_splits`` is not an even integer ≥ 2.
    DataError
        If ``returns`` is not a frame of finite numbers, has fewer than 2 columns, or fewer
        than ``2·n_splits`` rows (a block needs 2 rows).

    References
    ----------
    Bailey, D. H., Borwein, J. M., López de Prado, M. and Zhu, Q. J. (2017), "The
    probability of backtest overfitting", Journal of Computational Finance 20(4), 39-69.
    """
    ranks, n = _cscv_ranks(returns, n_splits, "pbo_logits")
    omega = ranks / (n + 1)
    return np.log(omega / (1.0 - omega))


def _cscv_ranks(returns: pd.DataFrame, n_splits: object, subject: str) -> tuple[np.ndarray, int]:
    """Out-of-sample rank of the in-sample winner per combination, and the strategy count."""
    s = _splits(n_splits, subject)
    values = _returns_matrix(returns, subject)
    n_rows, n_cols = values.shape
    if n_cols < 2:
        raise DataError(f"{subject}: returns have {n_cols} strategy columns, expected at least 2")
    m = n_rows // s
    if m < 2:
        raise DataError(
            f"{subject}: {n_rows} rows give blocks of {m} rows for {s} splits, "
            f"expected at least {2 * s} rows (2 per block)"
        )
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise DataError(f"{subject}: returns hold {bad} non-finite values, expected none")

    kept = values[n_rows - s * m :]
    centre = kept.mean(axis=0)
    blocks = (kept - centre).reshape(s, m, n_cols)
    block_sum = blocks.sum(axis=1)  # (S, N)
    block_sq = np.einsum("bij,bij->bj", blocks, blocks)  # (S, N)
    total_sum = block_sum.sum(axis=0)
    total_sq = block_sq.sum(axis=0)
    # Exact flatness, decided on the raw values: a half is flat when each of its blocks is
    # constant and they all hold the same constant. Only columns with a flat block can be.
    raw = kept.reshape(s, m, n_cols)
    block_lo, block_hi = raw.min(axis=1), raw.max(axis=1)
    may_be_flat = np.flatnonzero((block_lo == block_hi).any(axis=0))
    half = s // 2
    n_half = half * m

    chosen = np.array(list(combinations(range(s), half)), dtype=np.intp)
    ranks = np.empty(len(chosen))
    for start in range(0, len(chosen), CHUNK):
        rows = chosen[start : start + CHUNK]
        member = np.zeros((len(rows), s))
        np.put_along_axis(member, rows, 1.0, axis=1)
        others = np.argsort(member, axis=1, kind="stable")[:, :half]
        in_sum = member @ block_sum
        in_sq = member @ block_sq
        sharpe_in = _half_sharpe(in_sum, in_sq, n_half, centre)
        sharpe_out = _half_sharpe(total_sum - in_sum, total_sq - in_sq, n_half, centre)
        if may_be_flat.size:
            lo, hi = block_lo[:, may_be_flat], block_hi[:, may_be_flat]
            for blocks_of_half, sharpe in ((rows, sharpe_in), (others, sharpe_out)):
                flat = lo[blocks_of_half].min(axis=1) == hi[blocks_of_half].max(axis=1)
                sharpe[:, may_be_flat] = np.where(flat, 0.0, sharpe[:, may_be_flat])
        winner = np.argmax(sharpe_in, axis=1)
        winner_out = np.take_along_axis(sharpe_out, winner[:, None], axis=1)
        below = (sharpe_out < winner_out).sum(axis=1)
        equal = (sharpe_out == winner_out).sum(axis=1)
        ranks[start : start + len(rows)] = below + (equal + 1) / 2.0
    return ranks, n_cols


def _half_sharpe(total: np.ndarray, squares: np.ndarray, n: int, centre: np.ndarray) -> np.ndarray:
    """Sharpe ratio per period of a half from its centred sums (0 where the std is ~0)."""
    mean_centred = total / n
    variance = np.maximum((squares - total * mean_centred) / (n - 1), 0.0)
    std = np.sqrt(variance)
    flat = std < ZERO_FLOOR
    return np.where(flat, 0.0, (mean_centred + centre) / np.where(flat, 1.0, std))


def _splits(n_splits: object, subject: str) -> int:
    """An even integer ≥ 2, else a ConfigError."""
    if not isinstance(n_splits, bool):
        try:
            s = operator.index(n_splits)  # type: ignore[arg-type]
        except TypeError:
            s = None
        if s is not None and s >= 2 and s % 2 == 0:
            return s
    raise ConfigError(f"{subject}: n_splits is {n_splits!r}, expected an even integer ≥ 2")


def probability_of_backtest_overfitting(
    returns: pd.DataFrame, n_splits: int = DEFAULT_SPLITS
) -> float:
    """Share of CSCV combinations whose in-sample winner ranks at or below the median out of sample.

    ``PBO = #{c : λ_c ≤ 0} / C(S, S/2)`` over the logits of :func:`pbo_logits` (a winner
    exactly at the median, ``λ = 0``, counts as overfit). Near 0: the in-sample winner
    stays a winner; 0.5: selection is no better than a coin; above 0.5: it is more likely
    than not below the median out of sample.

    Parameters
    ----------
    returns : pandas.DataFrame
        Index: periods in time order, oldest first; columns: strategies (at least 2);
        values: finite per-period returns.
    n_splits : int, default 16
        Number of contiguous blocks ``S``: even, at least 2 (``T mod S`` oldest rows are
        dropped; each block needs 2 rows).

    Returns
    -------
    float
        A probability in ``[0, 1]``.

    Raises
    ------
    ConfigError
        If ``n_splits`` is not an even integer ≥ 2.
    DataError
        If ``returns`` is not a frame of finite numbers, has fewer than 2 columns, or fewer
        than ``2·n_splits`` rows.

    References
    ----------
    Bailey, D. H., Borwein, J. M., López de Prado, M. and Zhu, Q. J. (2017), "The
    probability of backtest overfitting", Journal of Computational Finance 20(4), 39-69.
    """
    ranks, n = _cscv_ranks(returns, n_splits, "probability_of_backtest_overfitting")
    return float(np.mean(2.0 * ranks <= n + 1))  # λ ≤ 0 ⇔ ω̄ ≤ 1/2, decided on exact ranks


def distinct_trials(returns: pd.DataFrame, atol: float = 1e-12) -> int:
    """Number of distinct strategies: columns with the same series count once.

    Two columns are the same when every row agrees within ``atol`` (``|a − b| ≤ atol``, or
    both NaN; equal infinities agree). Columns are visited in order and each joins the first
    earlier distinct column it agrees with, else starts a new one (so with a large ``atol``,
    where agreement is not transitive, the count depends on the column order).

    Parameters
    ----------
    returns : pandas.DataFrame
        Index: periods; columns: strategies (trials); values: per-period returns, NaN allowed.
    atol : float, default 1e-12
        Absolute tolerance, a finite number ≥ 0.

    Returns
    -------
    int
        Distinct columns, ``0`` for a frame without columns.

    Raises
    ------
    ConfigError
        If ``atol`` is not a finite number ≥ 0.
    DataError
        If ``returns`` is not a frame of numbers.
    """
    subject = "distinct_trials"
    if isinstance(atol, bool) or not isinstance(atol, (int, float, np.number)):
        raise ConfigError(f"{subject}: atol is {atol!r}, expected a finite number ≥ 0")
    tolerance = float(atol)
    if not (math.isfinite(tolerance) and tolerance >= 0.0):
        raise ConfigError(f"{subject}: atol is {atol!r}, expected a finite number ≥ 0")
    values = _returns_matrix(returns, subject)
    head = values[:PRESCREEN_ROWS]
    kept: list[int] = []
    for j in range(values.shape[1]):
        # The first rows rule out almost every other column; the rest are compared in full.
        candidates = np.asarray(kept, dtype=np.intp)
        for rows in (head, values):
            if candidates.size == 0:
                break
            same = _agree(rows[:, candidates], rows[:, j : j + 1], tolerance)
            candidates = candidates[same.all(axis=0)]
        if candidates.size == 0:
            kept.append(j)
    return len(kept)


def _agree(reps: np.ndarray, column: np.ndarray, tolerance: float) -> np.ndarray:
    """Elementwise agreement: equal, within ``tolerance``, or both NaN."""
    with np.errstate(invalid="ignore"):
        return (
            (reps == column)
            | (np.abs(reps - column) <= tolerance)
            | (np.isnan(reps) & np.isnan(column))
        )
