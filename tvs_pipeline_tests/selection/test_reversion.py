"""Mean-reversion features (tvs_pipeline/selection/reversion.py): lag-1 autocorrelation and
half-life, against hand sums, a reference regression and simulated AR(1) prices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.selection.aligned import bottom_align
from tvs_pipeline.selection.reversion import (
    HALF_LIFE_CAP,
    autocorrelation_columns,
    half_life_columns,
    log_prices,
)


def column(values) -> np.ndarray:
    return np.asarray(values, dtype=float).reshape(-1, 1)


def test_autocorrelation_by_hand():
    """[1, -1, 1, -1]: mean 0, lagged products -1 three times, squares 4: -3/4."""
    np.testing.assert_allclose(autocorrelation_columns(column([1, -1, 1, -1])), [-0.75])
    # [1, 2, 3, 4]: mean 2.5, deviations -1.5 -.5 .5 1.5; lagged .75 - .25 + .75 = 1.25; 5 in all
    np.testing.assert_allclose(autocorrelation_columns(column([1, 2, 3, 4])), [0.25])
    # NaN above (a younger listing) is skipped; a constant or a 2-value column is NaN
    both = np.column_stack([[np.nan, 1, -1, 1, -1], [5, 5, 5, 5, 5]])
    out = autocorrelation_columns(both)
    np.testing.assert_allclose(out[0], -0.75)
    assert np.isnan(out[1])
    assert np.isnan(autocorrelation_columns(column([1.0, 2.0]))[0])


def test_autocorrelation_of_simulated_processes():
    """White noise reads about 0 (sd 1/sqrt n); returns of an AR(1) price with phi 0.5 read
    -(1 - phi)/2 = -0.25."""
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, (5000, 1))
    assert abs(autocorrelation_columns(noise)[0]) < 3 / np.sqrt(5000)
    level = np.zeros(20001)
    for t in range(1, len(level)):
        level[t] = 0.5 * level[t - 1] + rng.normal(0, 0.01)
    np.testing.assert_allclose(autocorrelation_columns(column(np.diff(level))), [-0.25], atol=0.02)


def test_half_life_matches_a_reference_regression():
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.02, 400)
    log_p = pd.Series(np.concatenate([[0.0], np.cumsum(np.log1p(r))]))[1:]
    deviation = (log_p - log_p.rolling(20).mean()).to_numpy()
    x, y = deviation[:-1], np.log1p(r[1:])
    keep = np.isfinite(x)
    beta = np.polyfit(x[keep], y[keep], 1)[0]
    expected = np.log(2) / -np.log(1 + beta) if beta < 0 else HALF_LIFE_CAP
    np.testing.assert_allclose(half_life_columns(column(r)), [min(expected, HALF_LIFE_CAP)])


@pytest.mark.parametrize("half_life", [1.0, 3.0, 5.0])
def test_half_life_of_an_ar1_price(half_life):
    """An AR(1) log price whose deviation halves in h sessions reads about h; the window's own
    level moves with the price, so the estimate runs a little short (within 35 %)."""
    phi = 0.5 ** (1 / half_life)
    rng = np.random.default_rng(2)
    level = np.zeros(3001)
    for t in range(1, len(level)):
        level[t] = phi * level[t - 1] + rng.normal(0, 0.02)
    got = half_life_columns(column(np.expm1(np.diff(level))))[0]
    assert abs(got - half_life) <= 0.35 * half_life


def test_half_life_of_a_trend_is_the_cap_and_the_window_matters():
    trend = column(np.full(300, 0.01) + np.linspace(0, 0.001, 300))
    assert half_life_columns(trend)[0] == HALF_LIFE_CAP
    rng = np.random.default_rng(4)
    r = column(rng.normal(0, 0.02, 300))
    assert half_life_columns(r, 5)[0] != half_life_columns(r, 40)[0]
    assert np.isnan(half_life_columns(column(r[:25]))[0])  # fewer than window + 10 returns


def test_log_prices_keep_the_padding():
    aligned = bottom_align(np.array([[np.nan], [0.1], [-0.5]]))
    np.testing.assert_allclose(log_prices(aligned)[1:, 0], [np.log(1.1), np.log(0.55)])
    assert np.isnan(log_prices(aligned)[0, 0])
