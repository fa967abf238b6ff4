import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.allocation.solver import (
    atom_betas,
    beta_tolerance,
    optimize,
    solve_allocation,
)
from tvs_pipeline.errors import ConfigError, DataError, OptimizationError
from tvs_pipeline.simulation.friction import FrictionModel


def returns_frame(n=8, days=200, seed=0):
    rng = np.random.default_rng(seed)
    market = rng.standard_normal(days) * 0.01
    x = rng.standard_normal((days, n)) * 0.01 + np.outer(market, np.linspace(-1.0, 1.5, n))
    return pd.DataFrame(x, columns=[f"a{i}" for i in range(n)]), pd.Series(market)


@pytest.mark.parametrize(
    "profile", ["equal_weight", "inverse_volatility", "min_variance", "risk_parity", "hrp"]
)
def test_called_with_returns_and_a_cap_every_profile_is_long_only_and_sums_to_one(profile):
    returns, _ = returns_frame()
    w = optimize(returns, "custom", profile, max_weight=0.3)
    assert list(w.index) == list(returns.columns) and w.name == "weight"
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    assert (w >= 0).all() and w.max() <= 0.3 + 1e-6


def test_an_infeasible_cap_is_raised_to_one_over_n_and_recorded():
    returns, _ = returns_frame(n=3)
    got = solve_allocation(returns, "custom", "min_variance", max_weight=0.25)
    assert got.cap_relaxed and got.max_weight == pytest.approx(1 / 3)
    np.testing.assert_allclose(got.weights.to_numpy(), np.full(3, 1 / 3), atol=1e-7)


def test_infeasible_cluster_caps_relax_to_one_over_k():
    returns, _ = returns_frame(n=6)
    clusters = pd.Series([1, 1, 1, 2, 2, 2], index=returns.columns)
    got = solve_allocation(returns, "custom", "min_variance", clusters=clusters, cluster_cap=0.15)
    assert got.cluster_cap_relaxed and got.cluster_cap == pytest.approx(0.5)
    np.testing.assert_allclose(
        got.weights.groupby(clusters).sum().to_numpy(), [0.5, 0.5], atol=1e-6
    )


def test_atom_betas_are_ols_slopes():
    returns, market = returns_frame()
    betas = atom_betas(returns, market)
    for atom in returns.columns:
        slope = np.polyfit(market.to_numpy(), returns[atom].to_numpy(), 1)[0]
        assert betas[atom] == pytest.approx(slope, rel=1e-9)


def test_the_beta_band_tightens_with_the_number_of_atoms():
    assert beta_tolerance(2) == 0.15 and beta_tolerance(5) == 0.15
    assert beta_tolerance(15) == pytest.approx(0.10)
    assert beta_tolerance(25) == 0.05 and beta_tolerance(100) == 0.05


def test_market_neutral_holds_the_band_with_hedging_atoms():
    # Seven long atoms (beta 1) and one noisy synthetic short (beta -2): min variance alone
    # avoids the noisy hedge and carries the market; the band forces the hedge in.
    rng = np.random.default_rng(5)
    market = pd.Series(rng.standard_normal(250) * 0.01)
    loadings = np.array([1.0] * 7 + [-2.0])
    idio = np.array([0.004] * 7 + [0.03])
    x = np.outer(market, loadings) + rng.standard_normal((250, 8)) * idio
    returns = pd.DataFrame(x, columns=[f"a{i}" for i in range(8)])
    free = solve_allocation(returns, "custom", "min_variance", benchmark=None)
    free_beta = float(atom_betas(returns, market) @ free.weights)
    got = solve_allocation(returns, "custom", "min_variance", benchmark=market)
    assert free_beta > 0.5
    assert got.beta_tolerance == pytest.approx(beta_tolerance(8))
    assert abs(got.beta) <= got.beta_tolerance + 1e-6
    assert got.weights["a7"] > free.weights["a7"] + 0.1


def test_market_neutral_without_a_hedge_is_an_error_naming_the_constraint():
    rng = np.random.default_rng(2)
    market = pd.Series(rng.standard_normal(200) * 0.01)
    x = np.outer(market, [1.0, 1.2, 0.9]) + rng.standard_normal((200, 3)) * 0.002
    returns = pd.DataFrame(x, columns=["a", "b", "c"])
    with pytest.raises(OptimizationError, match=r"infeasible under .*market-neutral beta"):
        solve_allocation(returns, "custom", "min_variance", benchmark=market)


def test_barbell_segments_capital_by_the_documented_rule():
    rng = np.random.default_rng(7)
    vols = np.array([0.005, 0.006, 0.007, 0.008, 0.02, 0.03, 0.04, 0.05])
    returns = pd.DataFrame(rng.standard_normal((250, 8)) * vols, columns=list("abcdefgh"))
    scores = pd.Series([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.9, 0.8], index=returns.columns)
    w = optimize(returns, "custom", "barbell", max_weight=0.5, scores=scores)
    # Aggressive: the two best scores (g 0.9, h 0.8), 10 % split equally.
    assert w["g"] == pytest.approx(0.05) and w["h"] == pytest.approx(0.05)
    # Core: of the rest (a..f), the volatilities at or below their median (a, b, c), 90 %.
    assert w[["a", "b", "c"]].sum() == pytest.approx(0.9)
    assert w[["d", "e", "f"]].sum() == 0.0
    assert w["a"] > w["b"] > w["c"]  # min variance over nearly uncorrelated atoms


def test_barbell_needs_scores():
    returns, _ = returns_frame()
    with pytest.raises(ConfigError, match=r"barbell'.*selection scores"):
        optimize(returns, "custom", "barbell")


def test_a_single_atom_takes_the_book():
    returns, _ = returns_frame(n=1)
    assert optimize(returns, "custom", "min_variance").tolist() == [1.0]


def test_friction_and_holdings_make_it_turnover_aware():
    returns, _ = returns_frame(seed=3)
    holdings = pd.Series(1 / 8, index=returns.columns)
    free = optimize(returns, "custom", "min_variance")
    aware = optimize(
        returns, "custom", "min_variance", holdings=holdings,
        friction=FrictionModel(slippage_bps=50.0, commission_bps=10.0),
    )  # fmt: skip
    assert (aware - holdings).abs().sum() < (free - holdings).abs().sum()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda r: optimize(r, "nope", "min_variance"), ConfigError,
         r"allocation engine 'nope': unknown \(known: custom, skfolio"),
        (lambda r: optimize(r, "custom", "max_drawdown"), ConfigError,
         r"allocation profile 'max_drawdown': unknown \(known: equal_weight"),
        (lambda r: optimize(r, "custom", "min_variance", max_weight=0.0), ConfigError,
         r"max_weight 0.0: expected a value in \(0, 1\]"),
        (lambda r: optimize(r.assign(a0=np.nan), "custom", "min_variance"), DataError,
         r"non-finite returns in atoms \['a0'\]"),
        (lambda r: optimize(r.iloc[:0], "custom", "min_variance"), DataError, "non-empty"),
        (lambda r: optimize(r, "custom", "min_variance", clusters=pd.Series({"a0": 1}),
                            cluster_cap=0.5), DataError, "clusters: no value for atoms"),
        (lambda r: optimize(r, "custom", "min_variance", benchmark=pd.Series([0.0] * 200)),
         DataError, "benchmark is flat"),
    ],
    ids=["engine", "profile", "cap", "nan", "empty", "clusters", "flat-benchmark"],
)  # fmt: skip
def test_errors(call, error, message):
    returns, _ = returns_frame()
    with pytest.raises(error, match=message):
        call(returns)


def test_a_barbell_core_the_engine_lacks_is_refused():
    returns, _ = returns_frame()
    scores = pd.Series(np.arange(8.0), index=returns.columns)
    from tvs_pipeline.allocation.profiles import Barbell

    with pytest.raises(ConfigError, match="'cvxportfolio': no profile 'hrp'"):
        solve_allocation(returns, "cvxportfolio", Barbell(core="hrp"), scores=scores)


def test_the_barbell_core_is_large_enough_for_the_cap():
    # 0.9 of the capital under a 0.25 cap needs 4 core atoms, more than the lower half (3).
    rng = np.random.default_rng(8)
    vols = np.linspace(0.005, 0.03, 8)
    returns = pd.DataFrame(rng.standard_normal((250, 8)) * vols, columns=list("abcdefgh"))
    scores = pd.Series([0.0] * 6 + [1.0, 2.0], index=returns.columns)
    got = solve_allocation(returns, "custom", "barbell", max_weight=0.25, scores=scores)
    assert got.projected == ""
    assert (got.weights[["a", "b", "c", "d"]] > 0).all() and got.weights[["e", "f"]].sum() == 0


def test_betas_use_the_dates_both_series_hold():
    returns, market = returns_frame()
    returns.index = pd.date_range("2025-01-01", periods=len(returns))
    market.index = returns.index
    weekdays = market[market.index.dayofweek < 5]  # an equity index has no weekend rows
    betas = atom_betas(returns, weekdays)
    keep = returns.index.dayofweek < 5
    for atom in returns.columns:
        slope = np.polyfit(weekdays.to_numpy(), returns.loc[keep, atom].to_numpy(), 1)[0]
        assert betas[atom] == pytest.approx(slope, rel=1e-9)
