import sys

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.allocation.engines import make_engine
from tvs_pipeline.allocation.engines.custom import hrp_weights
from tvs_pipeline.allocation.problem import AllocationProblem, check_constraints
from tvs_pipeline.allocation.profiles import Barbell, Hrp, MaxSharpe, MinVariance, make_profile
from tvs_pipeline.allocation.solver import atom_betas, beta_tolerance, solve_allocation
from tvs_pipeline.errors import ConfigError, OptimizationError

# The engine module imports its library: tests reach it through make_engine, after this.
pytest.importorskip("pypfopt", reason="needs the pyportfolioopt extra")

ENGINE = "pyportfolioopt"
# Both engines hand CLARABEL the same programme (covariance over its mean variance): measured
# agreement 3e-8 (min_variance) and 2e-9 (max_sharpe) per weight on these fixtures, 2.0e-6 with
# the beta band and cluster caps, where custom equals a solve at 1e-12 tolerances and
# PyPortfolioOpt stops at CLARABEL's default ones.
ATOL_CONVEX = 1e-5
# HRPOpt given only the covariance runs the same distance, tree, leaf order and bisection as
# custom.hrp_weights: measured 6e-17 per weight over 30 seeds x 4 linkages.
ATOL_HRP = 1e-12


def factor_returns(n_atoms=10, days=250, seed=0):
    """A market factor (betas of both signs), a style factor, idiosyncratic noise, drifts."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0003, 0.01, days)
    style = rng.normal(0.0, 0.006, days)
    betas = rng.uniform(-0.6, 1.3, n_atoms)
    styles = rng.uniform(-1.0, 1.0, n_atoms)
    noise = rng.standard_normal((days, n_atoms)) * rng.uniform(0.004, 0.015, n_atoms)
    drift = rng.normal(0.0004, 0.0004, n_atoms)
    x = np.outer(market, betas) + np.outer(style, styles) + noise + drift
    dates = pd.date_range("2025-01-01", periods=days, freq="B")
    returns = pd.DataFrame(x, index=dates, columns=[f"a{i}" for i in range(n_atoms)])
    return returns, pd.Series(market, index=dates, name="benchmark")


def uncorrelated(s1, s2, m1=0.0, m2=0.0):
    """Two series with zero sample covariance, variances s1², s2² (divisor T), means m1, m2."""
    x = np.tile([1.0, -1.0, 1.0, -1.0], 4) * s1 + m1
    y = np.tile([1.0, 1.0, -1.0, -1.0], 4) * s2 + m2
    return pd.DataFrame({"x": x, "y": y})


def shrunk_diagonal(s1, s2, shrinkage=0.1):
    """The shared estimator on `uncorrelated`: (1 − δ)S + δ·tr(S)/n·I, S diagonal."""
    mean_var = (s1**2 + s2**2) / 2
    return np.array([s1**2, s2**2]) * (1 - shrinkage) + shrinkage * mean_var


def clusters_of(returns, k=3):
    return pd.Series([i % k for i in range(returns.shape[1])], index=returns.columns)


# ---------------------------------------------------------------- agreement with custom


@pytest.mark.parametrize(("n_atoms", "seed"), [(8, 0), (12, 1)], ids=["8-atoms", "12-atoms"])
def test_min_variance_agrees_with_custom(n_atoms, seed):
    returns, _ = factor_returns(n_atoms, seed=seed)
    before = returns.copy()
    got = solve_allocation(returns, ENGINE, "min_variance", max_weight=0.2)
    ref = solve_allocation(returns, "custom", "min_variance", max_weight=0.2)
    np.testing.assert_allclose(got.weights.to_numpy(), ref.weights.to_numpy(), atol=ATOL_CONVEX)
    assert got.projected == ""
    assert got.weights.max() == pytest.approx(0.2, abs=1e-6)  # the cap binds: a real test
    pd.testing.assert_frame_equal(returns, before)


@pytest.mark.parametrize(("n_atoms", "seed"), [(8, 2), (12, 3)], ids=["8-atoms", "12-atoms"])
def test_max_sharpe_agrees_with_custom(n_atoms, seed):
    returns, _ = factor_returns(n_atoms, seed=seed)
    got = solve_allocation(returns, ENGINE, "max_sharpe", max_weight=0.35)
    ref = solve_allocation(returns, "custom", "max_sharpe", max_weight=0.35)
    np.testing.assert_allclose(got.weights.to_numpy(), ref.weights.to_numpy(), atol=ATOL_CONVEX)
    assert got.projected == ""


def test_max_sharpe_reads_the_risk_free_rate():
    returns, _ = factor_returns(10, seed=2)
    zero = solve_allocation(returns, ENGINE, "max_sharpe", max_weight=0.35).weights
    profile = MaxSharpe(risk_free_rate=0.0004)
    got = solve_allocation(returns, ENGINE, profile, max_weight=0.35).weights
    ref = solve_allocation(returns, "custom", profile, max_weight=0.35).weights
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), atol=ATOL_CONVEX)
    assert np.abs(got - zero).max() > 1e-3


@pytest.mark.parametrize("linkage", ["ward", "single", "complete", "average"])
@pytest.mark.parametrize(("n_atoms", "seed"), [(8, 4), (12, 5)], ids=["8-atoms", "12-atoms"])
def test_hrp_equals_custom_hrp_weights(linkage, n_atoms, seed):
    returns, _ = factor_returns(n_atoms, seed=seed)
    problem = AllocationProblem.build(returns, Hrp(linkage=linkage))
    got = make_engine(ENGINE).solve(problem)
    ref = hrp_weights(problem.cov.to_numpy(), linkage)
    np.testing.assert_allclose(got, ref, atol=ATOL_HRP)


def test_hrp_uses_the_shared_covariance_not_the_sample_one():
    # HRPOpt given returns ignores cov_matrix and uses their sample covariance and correlation:
    # on this fixture that moves a weight by 0.015 (0.19 at worst over 30 seeds x 4 linkages).
    # The engine passes the shared (shrunk) estimate only.
    from pypfopt import HRPOpt

    returns, _ = factor_returns(12, seed=5)
    problem = AllocationProblem.build(returns, Hrp())
    from_returns = HRPOpt(returns=returns).optimize("ward")
    sample = np.array([from_returns[a] for a in returns.columns])
    got = make_engine(ENGINE).solve(problem)
    assert np.abs(got - sample).max() > 1e-2
    np.testing.assert_allclose(got, hrp_weights(problem.cov.to_numpy()), atol=ATOL_HRP)


@pytest.mark.parametrize("core", ["min_variance", "hrp"])
def test_barbell_composes_from_the_core_like_custom(core):
    returns, _ = factor_returns(10, seed=6)
    scores = pd.Series(np.arange(10.0), index=returns.columns)
    profile = Barbell(core=core)
    got = solve_allocation(returns, ENGINE, profile, max_weight=0.3, scores=scores).weights
    ref = solve_allocation(returns, "custom", profile, max_weight=0.3, scores=scores).weights
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), atol=ATOL_CONVEX)


# ---------------------------------------------------------------- hand-sized re-derivations


def test_min_variance_of_two_uncorrelated_atoms_is_inverse_variance():
    returns = uncorrelated(0.02, 0.01)
    var = shrunk_diagonal(0.02, 0.01)
    expected = (1 / var) / (1 / var).sum()
    got = solve_allocation(returns, ENGINE, "min_variance").weights.to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-7)


def test_hrp_of_two_uncorrelated_atoms_is_inverse_variance():
    returns = uncorrelated(0.03, 0.01)
    var = shrunk_diagonal(0.03, 0.01)
    got = solve_allocation(returns, ENGINE, "hrp").weights.to_numpy()
    np.testing.assert_allclose(got, (1 / var) / (1 / var).sum(), rtol=1e-12)


def test_max_sharpe_of_two_uncorrelated_atoms_is_mean_over_variance():
    # Tangency weights Σ⁻¹μ normalised; with Σ diagonal, μ_i / σ_i² (no bound binds).
    returns = uncorrelated(0.02, 0.01, m1=0.002, m2=0.0005)
    var = shrunk_diagonal(0.02, 0.01)
    expected = np.array([0.002, 0.0005]) / var
    got = solve_allocation(returns, ENGINE, "max_sharpe").weights.to_numpy()
    np.testing.assert_allclose(got, expected / expected.sum(), atol=1e-6)


# ---------------------------------------------------------------- constraints


@pytest.mark.parametrize(
    ("profile", "native"),
    [("min_variance", True), ("max_sharpe", True), ("hrp", False)],
)
def test_caps_cluster_caps_and_the_beta_band_hold(profile, native):
    returns, benchmark = factor_returns(12, seed=7)
    clusters = clusters_of(returns, k=3)
    kwargs = dict(max_weight=0.2, clusters=clusters, cluster_cap=0.4, benchmark=benchmark)
    got = solve_allocation(returns, ENGINE, profile, **kwargs)
    problem = AllocationProblem.build(
        returns,
        make_profile(profile),
        max_weight=0.2,
        clusters=clusters,
        cluster_cap=0.4,
        betas=atom_betas(returns, benchmark),
        beta_tolerance=beta_tolerance(12),
    )
    assert check_constraints(got.weights.to_numpy(), problem) == []
    assert abs(got.beta) <= beta_tolerance(12) + 1e-6
    # min_variance and max_sharpe express every constraint; HRP's weights break the beta band
    # on this fixture and the projection restores it.
    assert (got.projected == "") is native
    # The constraints bind: without them the engine's answer breaks at least one.
    free = solve_allocation(returns, ENGINE, profile, max_weight=0.2).weights.to_numpy()
    assert check_constraints(free, problem) != []
    if native:
        ref = solve_allocation(returns, "custom", profile, **kwargs).weights
        np.testing.assert_allclose(got.weights.to_numpy(), ref.to_numpy(), atol=ATOL_CONVEX)


def test_infeasible_beta_band_names_the_constraint():
    returns, benchmark = factor_returns(10, seed=0)
    betas = atom_betas(returns, benchmark)
    long_only = betas[betas > 0.3].index.tolist()  # every book's beta is above the band
    band = rf"±{beta_tolerance(len(long_only)):.4g}"
    for profile in ("min_variance", "max_sharpe"):
        with pytest.raises(
            OptimizationError,
            match=rf"pyportfolioopt {profile} on \d+ atoms: infeasible under cap 1, "
            rf"market-neutral beta {band} \(Solver status: infeasible\)",
        ):
            solve_allocation(returns[long_only], ENGINE, profile, benchmark=benchmark)


def test_infeasible_cluster_caps_name_the_constraint():
    # Cap 0.2 leaves a two-atom cluster at most 0.4 and the other cluster holds 0.5: 0.9 < 1.
    returns, _ = factor_returns(6, seed=1)
    clusters = pd.Series([0, 0, 0, 0, 1, 1], index=returns.columns)
    with pytest.raises(OptimizationError, match=r"infeasible under cap 0.2, cluster cap 0.5"):
        solve_allocation(
            returns, ENGINE, "min_variance", max_weight=0.2, clusters=clusters, cluster_cap=0.5
        )


def test_max_sharpe_refuses_when_nothing_beats_the_risk_free_rate():
    returns, _ = factor_returns(8, seed=2)
    with pytest.raises(OptimizationError, match=r"pyportfolioopt max_sharpe.*risk-free rate"):
        solve_allocation(returns - 0.01, ENGINE, "max_sharpe")


# ---------------------------------------------------------------- turnover


def test_the_cost_of_trading_makes_min_variance_trade_less():
    returns, _ = factor_returns(10, seed=8)
    holdings = pd.Series(0.1, index=returns.columns)
    free = solve_allocation(returns, ENGINE, "min_variance", max_weight=0.25, holdings=holdings)
    costly = solve_allocation(
        returns,
        ENGINE,
        "min_variance",
        max_weight=0.25,
        holdings=holdings,
        cost_per_turnover=1e-5,
    )
    turnover_free = (free.weights - holdings).abs().sum()
    turnover_costly = (costly.weights - holdings).abs().sum()
    assert turnover_costly < turnover_free - 0.05
    reference = solve_allocation(
        returns,
        "custom",
        "min_variance",
        max_weight=0.25,
        holdings=holdings,
        cost_per_turnover=1e-5,
    )
    np.testing.assert_allclose(
        costly.weights.to_numpy(), reference.weights.to_numpy(), atol=ATOL_CONVEX
    )


def test_at_a_huge_cost_feasible_holdings_are_kept():
    returns, _ = factor_returns(10, seed=8)
    rng = np.random.default_rng(9)
    holdings = pd.Series(rng.dirichlet(np.full(10, 5.0)), index=returns.columns)
    assert holdings.max() < 0.25
    got = solve_allocation(
        returns, ENGINE, "min_variance", max_weight=0.25, holdings=holdings, cost_per_turnover=1.0
    )
    np.testing.assert_allclose(got.weights.to_numpy(), holdings.to_numpy(), atol=1e-6)


def test_at_a_huge_cost_holdings_above_the_cap_are_cut_to_it():
    returns, _ = factor_returns(10, seed=8)
    holdings = pd.Series([0.4] + [0.6 / 9] * 9, index=returns.columns)
    got = solve_allocation(
        returns, ENGINE, "min_variance", max_weight=0.25, holdings=holdings, cost_per_turnover=1.0
    )
    assert got.weights["a0"] == pytest.approx(0.25, abs=1e-6)
    assert got.projected == ""


# ---------------------------------------------------------------- refusals and failures


@pytest.mark.parametrize("profile", ["equal_weight", "inverse_volatility", "risk_parity"])
def test_unsupported_profiles_are_refused_with_what_it_offers(profile):
    returns, _ = factor_returns(8)
    with pytest.raises(
        ConfigError,
        match=rf"'pyportfolioopt': no profile '{profile}' "
        r"\(has: min_variance, max_sharpe, hrp, barbell\)",
    ):
        solve_allocation(returns, ENGINE, profile)


def test_a_solver_failure_is_wrapped_with_engine_profile_and_cause(monkeypatch):
    import cvxpy as cp
    from pypfopt import EfficientFrontier

    def fail(self):
        raise cp.SolverError("numerical trouble")

    monkeypatch.setattr(EfficientFrontier, "min_volatility", fail)
    returns, _ = factor_returns(8)
    with pytest.raises(
        OptimizationError,
        match=r"pyportfolioopt min_variance on 8 atoms: the library failed \(numerical trouble\)",
    ):
        solve_allocation(returns, ENGINE, "min_variance")


def test_non_finite_library_weights_are_an_error(monkeypatch):
    from pypfopt import HRPOpt

    def nan_weights(self, linkage_method="single"):
        return dict.fromkeys(self.tickers, float("nan"))

    monkeypatch.setattr(HRPOpt, "optimize", nan_weights)
    returns, _ = factor_returns(8)
    problem = AllocationProblem.build(returns, Hrp())
    with pytest.raises(OptimizationError, match=r"pyportfolioopt hrp on 8 atoms: non-finite"):
        make_engine(ENGINE).solve(problem)


def test_the_engine_declares_what_it_offers():
    engine = make_engine(ENGINE)
    assert engine.name == "pyportfolioopt"
    assert engine.profiles == {"min_variance", "max_sharpe", "hrp"}
    assert engine.native == {"cluster_cap", "beta", "turnover"}
    problem = AllocationProblem.build(factor_returns(8)[0], MinVariance(), max_weight=0.3)
    w = engine.solve(problem)
    assert w.shape == (8,) and w.sum() == pytest.approx(1.0, abs=1e-12)


def test_a_missing_library_is_a_config_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pypfopt", None)
    monkeypatch.delitem(
        sys.modules, "tvs_pipeline.allocation.engines.pyportfolioopt", raising=False
    )
    with pytest.raises(
        ConfigError,
        match=r"'pyportfolioopt': its library is not installed \(pypfopt\); "
        r"pip install 'tvs_pipeline\[pyportfolioopt\]'",
    ):
        make_engine(ENGINE)
