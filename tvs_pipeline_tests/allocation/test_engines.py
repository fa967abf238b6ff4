"""Tests of the allocation engine registry and its estimators."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.allocation import engines
from tvs_pipeline.allocation.engines import (
    COVARIANCE_SHRINKAGE,
    ENGINES,
    CustomAllocator,
    SkfolioAllocator,
    make_allocator,
    shrunk_covariance,
)
from tvs_pipeline.errors import ConfigError, DataError, OptimizationError

ENGINE_NAMES = ["custom", "skfolio"]
# Both engines solve the variance-normalised problem: SLSQP to ~1e-9, CLARABEL to ~1e-6.
ATOL = {"custom": 1e-7, "skfolio": 1e-5}
ESTIMATORS = {"custom": CustomAllocator, "skfolio": SkfolioAllocator}


def _dates(n: int) -> pd.DatetimeIndex:
    return pd.date_range("2025-01-01", periods=n, freq="D").as_unit("ns")


def _random_returns(n_atoms: int, n_days: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    vols = rng.uniform(0.005, 0.03, n_atoms)
    market = rng.normal(0.0, 0.01, (n_days, 1))
    values = rng.normal(0.0, 1.0, (n_days, n_atoms)) * vols + 0.5 * market
    return pd.DataFrame(values, index=_dates(n_days), columns=[f"atom{i}" for i in range(n_atoms)])


def _uncorrelated(s1: float, s2: float) -> pd.DataFrame:
    """Two zero-mean series with zero sample covariance: variances s1², s2² (divisor T)."""
    x = np.tile([1.0, -1.0, 1.0, -1.0], 4) * s1
    y = np.tile([1.0, 1.0, -1.0, -1.0], 4) * s2
    return pd.DataFrame({"a": x, "b": y}, index=_dates(16))


# ---------------------------------------------------------------- covariance


def test_shrunk_covariance_matches_hand_formula():
    returns = _random_returns(4, 30, seed=3)
    x = returns.to_numpy()
    centred = x - x.mean(axis=0)
    sample = np.einsum("ti,tj->ij", centred, centred) / len(x)
    mu = np.trace(sample) / 4
    expected = 0.8 * sample + 0.2 * mu * np.eye(4)
    np.testing.assert_allclose(shrunk_covariance(returns, 0.2), expected, rtol=1e-12)
    np.testing.assert_allclose(shrunk_covariance(returns, 0.0), np.cov(x.T, bias=True), rtol=1e-12)


@pytest.mark.parametrize("shrinkage", [-0.1, 1.5], ids=["negative", "above-one"])
def test_shrunk_covariance_rejects_out_of_range(shrinkage):
    with pytest.raises(ConfigError, match="expected a value in"):
        shrunk_covariance(_random_returns(2, 10, seed=0), shrinkage)


# ---------------------------------------------------------------- equal weight


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("n_atoms", [1, 3, 7], ids=["one", "three", "seven"])
def test_equal_weight_is_one_over_n(engine, n_atoms):
    returns = _random_returns(n_atoms, 25, seed=1)
    fitted = make_allocator(engine, "equal_weight", 1.0).fit(returns)
    np.testing.assert_allclose(
        fitted.weights_.to_numpy(), np.full(n_atoms, 1 / n_atoms), rtol=1e-12
    )
    assert list(fitted.weights_.index) == list(returns.columns)
    assert fitted.weights_.name == "weight"
    assert fitted.n_obs_ == 25
    assert not fitted.cap_relaxed_


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("profile", ["equal_weight", "min_variance"])
def test_infeasible_cap_is_relaxed_to_one_over_n_and_recorded(engine, profile):
    returns = _random_returns(3, 40, seed=2)
    fitted = make_allocator(engine, profile, 0.25).fit(returns)  # 3 * 0.25 < 1
    assert fitted.cap_relaxed_
    assert fitted.max_weight_ == pytest.approx(1 / 3, rel=1e-15)
    np.testing.assert_allclose(fitted.weights_.to_numpy(), np.full(3, 1 / 3), rtol=1e-12)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_exactly_binding_cap_is_equal_weight_not_relaxed(engine):
    fitted = make_allocator(engine, "min_variance", 0.25).fit(_random_returns(4, 40, seed=2))
    assert not fitted.cap_relaxed_
    np.testing.assert_allclose(fitted.weights_.to_numpy(), np.full(4, 0.25), rtol=1e-12)


# ---------------------------------------------------------------- min variance


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize(
    ("s1", "s2"), [(0.01, 0.02), (0.03, 0.01), (0.015, 0.015)], ids=["a<b", "a>b", "a=b"]
)
def test_min_variance_two_uncorrelated_assets_unshrunk(engine, s1, s2):
    a, b = s1**2, s2**2
    fitted = ESTIMATORS[engine](profile="min_variance", shrinkage=0.0).fit(_uncorrelated(s1, s2))
    np.testing.assert_allclose(fitted.weights_["a"], b / (a + b), atol=ATOL[engine])
    np.testing.assert_allclose(fitted.weights_.sum(), 1.0, rtol=1e-12)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_min_variance_two_uncorrelated_assets_with_default_shrinkage(engine):
    a, b = 0.01**2, 0.02**2
    d = COVARIANCE_SHRINKAGE
    a_shrunk = (1 - d) * a + d * (a + b) / 2
    b_shrunk = (1 - d) * b + d * (a + b) / 2
    fitted = make_allocator(engine, "min_variance", 1.0).fit(_uncorrelated(0.01, 0.02))
    np.testing.assert_allclose(
        fitted.weights_["a"], b_shrunk / (a_shrunk + b_shrunk), atol=ATOL[engine]
    )


@pytest.mark.parametrize("cap", [1.0, 0.3], ids=["uncapped", "capped"])
def test_custom_and_skfolio_agree_on_random_five_assets(cap):
    returns = _random_returns(5, 250, seed=11)
    custom = make_allocator("custom", "min_variance", cap).fit(returns).weights_
    skf = make_allocator("skfolio", "min_variance", cap).fit(returns).weights_
    np.testing.assert_allclose(custom.to_numpy(), skf.to_numpy(), atol=1e-5)
    pd.testing.assert_index_equal(custom.index, skf.index)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_caps_hold_and_bind(engine):
    returns = _random_returns(10, 120, seed=5)
    free = make_allocator(engine, "min_variance", 1.0).fit(returns).weights_
    assert free.max() > 0.15  # the cap below really binds
    capped = make_allocator(engine, "min_variance", 0.15).fit(returns).weights_
    assert capped.max() <= 0.15 + 1e-9
    assert capped.min() >= 0.0
    np.testing.assert_allclose(capped.sum(), 1.0, rtol=1e-12)
    assert not np.allclose(free.to_numpy(), capped.to_numpy(), atol=1e-4)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_shrinkage_changes_the_weights(engine):
    returns = _random_returns(5, 60, seed=8)
    light = ESTIMATORS[engine](profile="min_variance", shrinkage=0.0).fit(returns).weights_
    heavy = ESTIMATORS[engine](profile="min_variance", shrinkage=0.9).fit(returns).weights_
    assert np.abs(light - heavy).max() > 1e-3
    # Heavier shrinkage pulls toward equal weight.
    assert np.abs(heavy - 0.2).max() < np.abs(light - 0.2).max()


def test_zero_variance_window_gives_equal_weight_in_custom():
    returns = pd.DataFrame({"a": [0.01] * 5, "b": [0.01] * 5}, index=_dates(5))
    fitted = make_allocator("custom", "min_variance", 1.0).fit(returns)
    np.testing.assert_allclose(fitted.weights_.to_numpy(), [0.5, 0.5], rtol=1e-12)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("profile", ["equal_weight", "min_variance"])
def test_fit_leaves_input_unchanged_and_returns_self(engine, profile):
    returns = _random_returns(4, 30, seed=4)
    before = returns.copy()
    estimator = make_allocator(engine, profile, 0.4)
    assert estimator.fit(returns) is estimator
    pd.testing.assert_frame_equal(returns, before)


# ---------------------------------------------------------------- registry


def test_registry_is_closed_over_the_config_literal():
    assert set(ENGINES) == {"custom", "skfolio"}
    assert isinstance(make_allocator("custom", "min_variance", 0.5), CustomAllocator)
    assert isinstance(make_allocator("skfolio", "min_variance", 0.5), SkfolioAllocator)


def test_unknown_engine_raises_config_error():
    with pytest.raises(ConfigError, match="'riskfolio': unknown engine"):
        make_allocator("riskfolio", "min_variance", 0.5)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_unknown_profile_raises_config_error(engine):
    with pytest.raises(ConfigError, match="unknown profile 'hrp'"):
        make_allocator(engine, "hrp", 0.5)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_unknown_profile_on_direct_estimator_raises_on_fit(engine):
    with pytest.raises(ConfigError, match="unknown profile 'max_sharpe'"):
        ESTIMATORS[engine](profile="max_sharpe").fit(_random_returns(2, 10, seed=0))


@pytest.mark.parametrize("max_weight", [0.0, -0.1, 1.2], ids=["zero", "negative", "above-one"])
def test_max_weight_out_of_range_raises_config_error(max_weight):
    with pytest.raises(ConfigError, match="max_weight"):
        make_allocator("custom", "equal_weight", max_weight)


def test_missing_skfolio_raises_optimization_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "skfolio", None)  # makes `import skfolio` fail for real
    with pytest.raises(OptimizationError, match="cannot import skfolio"):
        make_allocator("skfolio", "min_variance", 0.5)


# ---------------------------------------------------------------- fit errors


@pytest.mark.parametrize(
    ("returns", "match"),
    [
        (pd.DataFrame(), "non-empty DataFrame"),
        (pd.DataFrame({"a": [0.01, np.nan]}, index=_dates(2)), "non-finite returns in atoms"),
        (pd.DataFrame({"a": [0.01, np.inf]}, index=_dates(2)), "non-finite returns in atoms"),
        (
            pd.DataFrame([[0.01, 0.02], [0.0, 0.01]], index=_dates(2), columns=["a", "a"]),
            "duplicate atom columns",
        ),
    ],
    ids=["empty", "nan", "inf", "duplicate"],
)
@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_fit_rejects_bad_windows(engine, returns, match):
    with pytest.raises(DataError, match=match):
        make_allocator(engine, "min_variance", 1.0).fit(returns)


def test_skfolio_non_converged_solve_raises():
    estimator = SkfolioAllocator(profile="min_variance", solver_params={"max_iter": 1})
    with pytest.raises(OptimizationError, match="solver status 'user_limit', expected 'optimal'"):
        estimator.fit(_random_returns(6, 120, seed=9))


def test_skfolio_error_is_wrapped():
    estimator = SkfolioAllocator(profile="min_variance", solver="NO_SUCH_SOLVER")
    with pytest.raises(OptimizationError, match="ValueError: The solver NO_SUCH_SOLVER"):
        estimator.fit(_random_returns(3, 30, seed=9))


def test_custom_slsqp_non_convergence_raises(monkeypatch):
    monkeypatch.setattr(engines, "SLSQP_OPTIONS", {"ftol": 1e-15, "maxiter": 1})
    with pytest.raises(OptimizationError, match="SLSQP did not converge"):
        CustomAllocator(profile="min_variance").fit(_random_returns(6, 120, seed=9))


def _fixed_allocator(raw: list[float]) -> CustomAllocator:
    """A custom engine whose solver hands back fixed weights (a real subclass, not a mock)."""

    class FixedAllocator(CustomAllocator):
        def _solve(self, returns, cap):
            return np.asarray(raw, dtype=float)

    return FixedAllocator(profile="min_variance", max_weight=0.8)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ([0.9, 0.1], r"outside \[0, 0.8\]"),
        ([1.2, -0.2], "outside"),
        ([0.5, 0.4], "sum to 0.9"),
        ([np.nan, 1.0], "non-finite weights"),
    ],
    ids=["above-cap", "negative", "bad-sum", "nan"],
)
def test_invalid_solver_output_raises(raw, match):
    with pytest.raises(OptimizationError, match=match):
        _fixed_allocator(raw).fit(_random_returns(2, 10, seed=0))


def test_solver_noise_is_clipped_and_renormalised_under_the_cap():
    fitted = _fixed_allocator([0.8 + 5e-9, 0.2 - 5e-9 - 1e-9]).fit(_random_returns(2, 10, 0))
    assert fitted.weights_.max() <= 0.8
    assert fitted.weights_.sum() == pytest.approx(1.0, abs=1e-15)
