import sys

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.allocation.engines import make_engine
from tvs_pipeline.allocation.problem import AllocationProblem, check_constraints
from tvs_pipeline.allocation.profiles import Barbell, EqualWeight, MinVariance, make_profile
from tvs_pipeline.allocation.solver import atom_betas, beta_tolerance, solve_allocation
from tvs_pipeline.errors import ConfigError, OptimizationError

# The engine module imports its library: tests reach it through make_engine, after this.
pytest.importorskip("cvxportfolio", reason="needs the cvxportfolio extra")

ENGINE = "cvxportfolio"
# cvxportfolio and custom hand CLARABEL the same programme (covariance over its mean variance;
# cvxportfolio writes the risk as ‖Fᵀw‖² with FFᵀ = Σ and adds trade variables): measured
# agreement 2e-8 to 7e-8 per weight, 1.0e-6 with the beta band and cluster caps, where custom
# equals a solve at 1e-12 tolerances and cvxportfolio stops at CLARABEL's default ones.
ATOL_CONVEX = 1e-5


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


def uncorrelated(s1, s2):
    """Two series with zero sample covariance, variances s1², s2² (divisor T); RangeIndex."""
    x = np.tile([1.0, -1.0, 1.0, -1.0], 4) * s1
    y = np.tile([1.0, 1.0, -1.0, -1.0], 4) * s2
    return pd.DataFrame({"x": x, "y": y})


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


def test_min_variance_of_two_uncorrelated_atoms_is_inverse_variance():
    # Shared estimator: (1 − δ)S + δ·tr(S)/n·I with δ = 0.1, S diagonal here.
    s1, s2 = 0.02, 0.01
    var = np.array([s1**2, s2**2]) * 0.9 + 0.1 * (s1**2 + s2**2) / 2
    got = solve_allocation(uncorrelated(s1, s2), ENGINE, "min_variance").weights.to_numpy()
    np.testing.assert_allclose(got, (1 / var) / (1 / var).sum(), atol=1e-7)


@pytest.mark.parametrize("n_atoms", [2, 7, 12])
def test_equal_weight_is_one_over_n_from_the_uniform_policy(n_atoms):
    returns, _ = factor_returns(n_atoms, seed=3)
    holdings = pd.Series(np.eye(n_atoms)[0], index=returns.columns)
    got = solve_allocation(
        returns, ENGINE, "equal_weight", holdings=holdings, cost_per_turnover=1.0
    ).weights
    np.testing.assert_allclose(got.to_numpy(), np.full(n_atoms, 1 / n_atoms), rtol=1e-12)


def test_barbell_composes_from_the_min_variance_core_like_custom():
    returns, _ = factor_returns(10, seed=6)
    scores = pd.Series(np.arange(10.0), index=returns.columns)
    got = solve_allocation(returns, ENGINE, Barbell(), max_weight=0.3, scores=scores).weights
    ref = solve_allocation(returns, "custom", Barbell(), max_weight=0.3, scores=scores).weights
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), atol=ATOL_CONVEX)


def test_the_decision_time_does_not_matter():
    # Constant inputs: a window on dates (t = its last date) and on a RangeIndex (t = epoch).
    returns, _ = factor_returns(8, seed=4)
    dated = solve_allocation(returns, ENGINE, "min_variance", max_weight=0.3).weights
    plain = solve_allocation(returns.reset_index(drop=True), ENGINE, "min_variance", max_weight=0.3)
    np.testing.assert_allclose(plain.weights.to_numpy(), dated.to_numpy(), atol=1e-12)


def test_an_atom_named_like_the_cash_account_is_still_an_atom():
    returns, _ = factor_returns(6, seed=4)
    renamed = returns.rename(columns={"a0": "__cash__"})
    got = solve_allocation(renamed, ENGINE, "min_variance", max_weight=0.3).weights
    ref = solve_allocation(returns, "custom", "min_variance", max_weight=0.3).weights
    assert list(got.index) == list(renamed.columns)
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), atol=ATOL_CONVEX)


# ---------------------------------------------------------------- constraints


@pytest.mark.parametrize(("profile", "native"), [("min_variance", True), ("equal_weight", False)])
def test_caps_cluster_caps_and_the_beta_band_hold(profile, native):
    returns, benchmark = factor_returns(12, seed=7)
    clusters = pd.Series([i % 3 for i in range(12)], index=returns.columns)
    got = solve_allocation(
        returns,
        ENGINE,
        profile,
        max_weight=0.2,
        clusters=clusters,
        cluster_cap=0.4,
        benchmark=benchmark,
    )
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
    # min_variance expresses the cluster caps (FactorMaxLimit) and the beta band
    # (FactorMaxLimit, FactorMinLimit); Uniform's 1/n breaks the band here and is projected.
    assert (got.projected == "") is native
    free = solve_allocation(returns, ENGINE, profile, max_weight=0.2).weights.to_numpy()
    assert check_constraints(free, problem) != []  # the constraints bind: a real test
    if native:
        ref = solve_allocation(
            returns,
            "custom",
            profile,
            max_weight=0.2,
            clusters=clusters,
            cluster_cap=0.4,
            benchmark=benchmark,
        )
        np.testing.assert_allclose(got.weights.to_numpy(), ref.weights.to_numpy(), atol=ATOL_CONVEX)


def test_infeasible_beta_band_names_the_constraint():
    returns, benchmark = factor_returns(10, seed=0)
    betas = atom_betas(returns, benchmark)
    long_only = betas[betas > 0.3].index.tolist()  # every book's beta is above the band
    band = f"±{beta_tolerance(len(long_only)):.4g}"
    with pytest.raises(
        OptimizationError,
        match=rf"cvxportfolio min_variance on \d+ atoms: infeasible under cap 1, "
        rf"market-neutral beta {band} \(ProgramInfeasible\)",
    ):
        solve_allocation(returns[long_only], ENGINE, "min_variance", benchmark=benchmark)


def test_infeasible_cluster_caps_name_the_constraint():
    # Cap 0.2 leaves a two-atom cluster at most 0.4 and the other cluster holds 0.5: 0.9 < 1.
    returns, _ = factor_returns(6, seed=1)
    clusters = pd.Series([0, 0, 0, 0, 1, 1], index=returns.columns)
    with pytest.raises(OptimizationError, match=r"infeasible under cap 0.2, cluster cap 0.5"):
        solve_allocation(
            returns, ENGINE, "min_variance", max_weight=0.2, clusters=clusters, cluster_cap=0.5
        )


# ---------------------------------------------------------------- turnover


def test_the_cost_of_trading_makes_min_variance_trade_less_like_custom():
    returns, _ = factor_returns(10, seed=8)
    holdings = pd.Series(0.1, index=returns.columns)
    kwargs = dict(max_weight=0.25, holdings=holdings)
    free = solve_allocation(returns, ENGINE, "min_variance", **kwargs).weights
    costly = solve_allocation(returns, ENGINE, "min_variance", cost_per_turnover=1e-5, **kwargs)
    assert (costly.weights - holdings).abs().sum() < (free - holdings).abs().sum() - 0.05
    ref = solve_allocation(returns, "custom", "min_variance", cost_per_turnover=1e-5, **kwargs)
    np.testing.assert_allclose(costly.weights.to_numpy(), ref.weights.to_numpy(), atol=ATOL_CONVEX)


def test_partial_holdings_count_the_rest_as_cash():
    # Holdings on four atoms only (0.6 of the book): trading away from them still costs.
    returns, _ = factor_returns(10, seed=8)
    holdings = pd.Series([0.15, 0.15, 0.15, 0.15], index=returns.columns[:4])
    free = solve_allocation(returns, ENGINE, "min_variance", max_weight=0.25).weights
    costly = solve_allocation(
        returns,
        ENGINE,
        "min_variance",
        max_weight=0.25,
        holdings=holdings,
        cost_per_turnover=1e-5,
    )
    ref = solve_allocation(
        returns,
        "custom",
        "min_variance",
        max_weight=0.25,
        holdings=holdings,
        cost_per_turnover=1e-5,
    )
    aligned = holdings.reindex(returns.columns).fillna(0.0)
    assert (costly.weights - aligned).abs().sum() < (free - aligned).abs().sum()
    np.testing.assert_allclose(costly.weights.to_numpy(), ref.weights.to_numpy(), atol=ATOL_CONVEX)


def test_at_a_huge_cost_feasible_holdings_are_kept():
    returns, _ = factor_returns(10, seed=8)
    rng = np.random.default_rng(9)
    holdings = pd.Series(rng.dirichlet(np.full(10, 5.0)), index=returns.columns)
    assert holdings.max() < 0.25
    got = solve_allocation(
        returns, ENGINE, "min_variance", max_weight=0.25, holdings=holdings, cost_per_turnover=1.0
    )
    np.testing.assert_allclose(got.weights.to_numpy(), holdings.to_numpy(), atol=1e-6)


def test_a_cost_without_holdings_changes_nothing():
    returns, _ = factor_returns(8, seed=8)
    free = solve_allocation(returns, ENGINE, "min_variance", max_weight=0.3).weights
    costly = solve_allocation(
        returns, ENGINE, "min_variance", max_weight=0.3, cost_per_turnover=1.0
    ).weights
    np.testing.assert_allclose(costly.to_numpy(), free.to_numpy(), atol=1e-12)


# ---------------------------------------------------------------- refusals and failures


@pytest.mark.parametrize("profile", ["max_sharpe", "hrp", "inverse_volatility", "risk_parity"])
def test_unsupported_profiles_are_refused_with_what_it_offers(profile):
    returns, _ = factor_returns(8)
    with pytest.raises(
        ConfigError,
        match=rf"'cvxportfolio': no profile '{profile}' "
        r"\(has: equal_weight, min_variance, barbell\)",
    ):
        solve_allocation(returns, ENGINE, profile)


def test_a_solver_failure_is_wrapped_with_engine_profile_and_cause(monkeypatch):
    import cvxportfolio as cvx
    from cvxportfolio.errors import NumericalSolverError

    def fail(self, **kwargs):
        raise NumericalSolverError("numerical trouble")

    monkeypatch.setattr(cvx.SinglePeriodOptimization, "values_in_time_recursive", fail)
    returns, _ = factor_returns(8)
    with pytest.raises(
        OptimizationError,
        match=r"cvxportfolio min_variance on 8 atoms: the library failed \(numerical trouble\)",
    ):
        solve_allocation(returns, ENGINE, "min_variance")


def test_non_finite_library_weights_are_an_error(monkeypatch):
    import cvxportfolio as cvx

    def nan_trades(self, h, market_data, t=None):
        return h * np.nan, t, None

    monkeypatch.setattr(cvx.Uniform, "execute", nan_trades)
    problem = AllocationProblem.build(factor_returns(8)[0], EqualWeight())
    with pytest.raises(
        OptimizationError, match=r"cvxportfolio equal_weight on 8 atoms: non-finite"
    ):
        make_engine(ENGINE).solve(problem)


def test_the_engine_declares_what_it_offers():
    engine = make_engine(ENGINE)
    assert engine.name == "cvxportfolio"
    assert engine.profiles == {"min_variance", "equal_weight"}
    assert engine.native == {"cluster_cap", "beta", "turnover"}
    problem = AllocationProblem.build(factor_returns(8)[0], MinVariance(), max_weight=0.3)
    w = engine.solve(problem)
    assert w.shape == (8,) and w.sum() == pytest.approx(1.0, abs=1e-12)


def test_a_missing_library_is_a_config_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cvxportfolio", None)
    monkeypatch.delitem(sys.modules, "tvs_pipeline.allocation.engines.cvxportfolio", raising=False)
    with pytest.raises(
        ConfigError,
        match=r"'cvxportfolio': its library is not installed \(cvxportfolio\); "
        r"pip install 'tvs_pipeline\[cvxportfolio\]'",
    ):
        make_engine(ENGINE)
