import math

import numpy as np
import pytest

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.selection.hurst import (
    expected_rescaled_range,
    hurst_columns,
    hurst_exponent,
    hurst_lags,
)


def fractional_gaussian_noise(n, hurst, rng):
    """Davies-Harte circulant embedding of fGn with unit variance."""
    k = np.arange(n + 1)
    gamma = 0.5 * (
        np.abs(k - 1) ** (2 * hurst) - 2 * np.abs(k) ** (2 * hurst) + np.abs(k + 1) ** (2 * hurst)
    )
    row = np.concatenate([gamma, gamma[-2:0:-1]])
    eigen = np.clip(np.fft.fft(row).real, 0, None)
    z = rng.standard_normal(len(row)) + 1j * rng.standard_normal(len(row))
    return np.fft.fft(np.sqrt(eigen / len(row)) * z).real[:n]


def reference_hurst(x, lags):
    """The corrected R/S exponent with explicit loops over segments."""
    xs, ys = [], []
    for lag in lags:
        k = len(x) // lag
        ratios = []
        for j in range(k):
            seg = x[len(x) - (k - j) * lag : len(x) - (k - j - 1) * lag]
            walk = np.cumsum(seg - seg.mean())
            ratios.append((walk.max() - walk.min()) / seg.std(ddof=1))
        xs.append(math.log(lag))
        ys.append(math.log(np.mean(ratios)) - math.log(expected_rescaled_range(lag)))
    return 0.5 + np.polyfit(xs, ys, 1)[0]


def test_anis_lloyd_peters_expectation_by_hand():
    # n = 10 by the Gamma form; n = 500 by the large-n form sqrt(2 / (n pi)).
    n = 10
    total = sum(math.sqrt((n - i) / i) for i in range(1, n))
    by_hand = (n - 0.5) / n * math.gamma(4.5) / (math.sqrt(math.pi) * math.gamma(5)) * total
    np.testing.assert_allclose(expected_rescaled_range(10), by_hand, rtol=1e-12)
    n = 500
    total = sum(math.sqrt((n - i) / i) for i in range(1, n))
    by_hand = (n - 0.5) / n / math.sqrt(n * math.pi / 2) * total
    np.testing.assert_allclose(expected_rescaled_range(500), by_hand, rtol=1e-12)


@pytest.mark.parametrize(("lag", "rtol"), [(4, 0.015), (16, 0.005), (64, 0.005)])
def test_expectation_matches_simulated_white_noise(lag, rtol):
    # Peters' (n - 1/2)/n factor approximates R/S with the sample std; it is 1.1 % high at 4.
    segments = np.random.default_rng(lag).standard_normal((40000, lag))
    walk = np.cumsum(segments - segments.mean(axis=1, keepdims=True), axis=1)
    ratio = (walk.max(axis=1) - walk.min(axis=1)) / segments.std(axis=1, ddof=1)
    np.testing.assert_allclose(ratio.mean(), expected_rescaled_range(lag), rtol=rtol)


@pytest.mark.parametrize("n", [32, 100, 341])
def test_matches_an_independent_loop(n):
    x = np.random.default_rng(n).standard_normal(n)
    lags = [lag for lag in hurst_lags() if n // lag >= 4]
    np.testing.assert_allclose(hurst_exponent(x), reference_hurst(x, lags), rtol=1e-12)


def test_white_noise_reads_one_half_not_the_uncorrected_058():
    noise = np.random.default_rng(1).standard_normal((500, 400))
    estimates = hurst_columns(noise)
    assert abs(estimates.mean() - 0.5) < 0.01
    assert 0.02 < estimates.std() < 0.05


@pytest.mark.parametrize(
    ("true_h", "low", "high"),
    [(0.2, 0.25, 0.42), (0.5, 0.47, 0.53), (0.8, 0.6, 0.75)],
    ids=["anti-persistent", "white-noise", "persistent"],
)
def test_orders_fractional_gaussian_noise(true_h, low, high):
    # R/S is known to pull estimates toward 0.5 on short windows; the order is what matters.
    rng = np.random.default_rng(int(true_h * 10))
    estimates = [hurst_exponent(fractional_gaussian_noise(1000, true_h, rng)) for _ in range(20)]
    assert low < np.mean(estimates) < high


def test_lags_change_the_estimate_and_nans_are_dropped():
    x = fractional_gaussian_noise(600, 0.7, np.random.default_rng(5))
    assert hurst_exponent(x, min_lag=8) != hurst_exponent(x)
    assert hurst_exponent(x, max_lag=32) != hurst_exponent(x)
    holes = np.insert(x, [3, 300, 301], np.nan)
    assert hurst_exponent(holes) == hurst_exponent(x)
    assert list(hurst_lags(4, 100)) == [4, 8, 16, 32, 64]


def test_too_short_is_nan():
    assert np.isnan(hurst_exponent(np.random.default_rng(2).standard_normal(31)))
    assert np.isfinite(hurst_exponent(np.random.default_rng(2).standard_normal(32)))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: hurst_exponent(np.ones(50), min_lag=2), ConfigError, "min_lag 2 is below 4"),
        (lambda: hurst_exponent(np.ones(50), max_lag=6), ConfigError, "max_lag 6 must be"),
        (lambda: expected_rescaled_range(1), ConfigError, "at least 2 values"),
        (lambda: hurst_exponent(np.ones((4, 4))), DataError, "expected a 1-D array"),
    ],
    ids=["min-lag", "max-lag", "segment", "two-dimensional"],
)
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
