import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from tvs_pipeline.allocation.engines.custom import hrp_weights
from tvs_pipeline.allocation.estimators import estimate_covariance
from tvs_pipeline.allocation.problem import AllocationProblem, check_constraints
from tvs_pipeline.allocation.profiles import Estimation, MinVariance
from tvs_pipeline.allocation.solver import solve_allocation
from tvs_pipeline.errors import OptimizationError


def factor_returns(n_atoms=9, days=250, seed=0, drift=None):
    rng = np.random.default_rng(seed)
    blocks = 3
    factors = rng.standard_normal((days, blocks)) * 0.01
    loadings = np.repeat(np.eye(blocks), n_atoms // blocks, axis=0)
    noise = rng.standard_normal((days, n_atoms)) * rng.uniform(0.005, 0.02, n_atoms)
    x = factors @ loadings.T + noise
    if drift is not None:
        x = x + drift
    return pd.DataFrame(x, columns=[f"a{i}" for i in range(n_atoms)])


def shared_cov(returns):
    return estimate_covariance(returns, Estimation()).to_numpy()


def test_min_variance_matches_an_independent_slsqp_solve():
    returns = factor_returns()
    cov = shared_cov(returns)
    n, cap = cov.shape[0], 0.2
    ref = minimize(
        lambda w: w @ cov @ w * 1e4,
        np.full(n, 1 / n),
        jac=lambda w: 2 * cov @ w * 1e4,
        bounds=[(0, cap)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 1000},
    ).x
    got = solve_allocation(returns, "custom", "min_variance", max_weight=cap)
    np.testing.assert_allclose(got.weights.to_numpy(), ref, atol=1e-5)
    assert got.projected == ""


def test_risk_parity_equalises_risk_contributions():
    returns = factor_returns(seed=1)
    cov = shared_cov(returns)
    w = solve_allocation(returns, "custom", "risk_parity").weights.to_numpy()
    contributions = w * (cov @ w)
    np.testing.assert_allclose(
        contributions / contributions.sum(), np.full(len(w), 1 / len(w)), atol=1e-6
    )


def test_max_sharpe_is_the_tangency_portfolio_when_no_bound_binds():
    # Two uncorrelated atoms: the unconstrained tangency weights are mu_i / var_i, normalised.
    rng = np.random.default_rng(3)
    days = 400
    raw = rng.standard_normal((days, 2)) * [0.01, 0.02]
    raw -= raw.mean(axis=0)
    raw += [0.001, 0.002]
    returns = pd.DataFrame(raw, columns=["x", "y"])
    cov = returns.cov(ddof=0).to_numpy()
    sample = returns.mean().to_numpy()
    # The estimator shrinks toward the scaled identity; recompute its covariance to compare.
    est = shared_cov(returns)
    expected = np.linalg.solve(est, sample)
    expected /= expected.sum()
    got = solve_allocation(returns, "custom", "max_sharpe").weights.to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert cov.shape == (2, 2)


def test_max_sharpe_refuses_when_nothing_beats_the_risk_free_rate():
    returns = factor_returns(seed=4, drift=-0.01)
    with pytest.raises(OptimizationError, match="no atom's expected return exceeds"):
        solve_allocation(returns, "custom", "max_sharpe")


def test_hrp_on_two_uncorrelated_atoms_is_inverse_variance():
    cov = np.diag([0.04, 0.01])
    np.testing.assert_allclose(hrp_weights(cov), [0.2, 0.8], rtol=1e-12)


def test_hrp_bisection_by_hand_on_four_atoms():
    # Block-diagonal: {0,1} correlated, {2,3} correlated. Ward keeps the blocks together, so
    # the first split is the blocks and each block splits inverse-variance.
    sd = np.array([0.1, 0.2, 0.1, 0.1])
    corr = np.eye(4)
    corr[0, 1] = corr[1, 0] = 0.9
    corr[2, 3] = corr[3, 2] = 0.9
    cov = corr * np.outer(sd, sd)
    w = hrp_weights(cov)

    def ivp_var(idx):
        sub = cov[np.ix_(idx, idx)]
        v = 1 / np.diag(sub)
        v /= v.sum()
        return v @ sub @ v

    left = [0, 1] if w[0] + w[1] else [2, 3]
    a = 1 - ivp_var([0, 1]) / (ivp_var([0, 1]) + ivp_var([2, 3]))
    block01 = np.array([1 / 0.01, 1 / 0.04])
    block01 /= block01.sum()
    np.testing.assert_allclose(w[[0, 1]], a * block01, rtol=1e-9)
    np.testing.assert_allclose(w[[2, 3]], (1 - a) * np.array([0.5, 0.5]), rtol=1e-9)
    assert left


@pytest.mark.parametrize(
    "profile",
    ["equal_weight", "inverse_volatility", "min_variance", "max_sharpe", "risk_parity", "hrp"],
)
def test_caps_and_cluster_buckets_hold_for_every_profile(profile):
    returns = factor_returns(n_atoms=12, seed=5, drift=0.0005)
    clusters = pd.Series(np.repeat([1, 2, 3, 4], 3), index=returns.columns)
    got = solve_allocation(
        returns, "custom", profile, max_weight=0.15, clusters=clusters, cluster_cap=0.3
    )
    w = got.weights
    assert w.sum() == pytest.approx(1.0, abs=1e-9) and (w >= -1e-12).all()
    assert w.max() <= 0.15 + 1e-6
    assert w.groupby(clusters).sum().max() <= 0.3 + 1e-6


def test_the_cost_of_trading_keeps_the_book_near_its_holdings():
    returns = factor_returns(seed=6)
    problem = AllocationProblem.build(returns, MinVariance(), max_weight=1.0)
    free = solve_allocation(returns, "custom", "min_variance").weights
    holdings = pd.Series(1 / 9, index=returns.columns)
    costly = solve_allocation(
        returns, "custom", "min_variance", holdings=holdings, cost_per_turnover=0.001
    ).weights
    prohibitive = solve_allocation(
        returns, "custom", "min_variance", holdings=holdings, cost_per_turnover=10.0
    ).weights
    assert (costly - holdings).abs().sum() < (free - holdings).abs().sum()
    np.testing.assert_allclose(prohibitive.to_numpy(), holdings.to_numpy(), atol=1e-6)
    assert check_constraints(costly.to_numpy(), problem) == []
