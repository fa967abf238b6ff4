"""Tests of allocate (eligibility, fallbacks, recording) and of the physical flattening."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.allocation import solver as optimize_module
from tvs_pipeline.allocation.profiles import PROFILES
from tvs_pipeline.allocation.solver import solve_allocation
from tvs_pipeline.allocation.weights import (
    ALLOCATION_COLUMNS,
    PHYSICAL_COLUMNS,
    allocate,
    check_exposure,
    flatten_weights,
    target_exposure,
)
from tvs_pipeline.config.schema import AllocationConfig
from tvs_pipeline.errors import ConfigError, DataError, OptimizationError


def _dates(n: int) -> pd.DatetimeIndex:
    return pd.date_range("2025-01-01", periods=n, freq="D").as_unit("ns")


def _returns(n_atoms: int = 6, n_days: int = 150, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    vols = rng.uniform(0.005, 0.03, n_atoms)
    values = rng.normal(0.0, 1.0, (n_days, n_atoms)) * vols + rng.normal(0, 0.005, (n_days, 1))
    return pd.DataFrame(values, index=_dates(n_days), columns=[f"atom{i}" for i in range(n_atoms)])


def _config(**overrides) -> AllocationConfig:
    base = {"estimation_days": 120, "max_weight": 0.5}
    return AllocationConfig(**{**base, **overrides})


class _FailingEngine:
    """An engine whose solver gives up, as skfolio's does when stopped after one iteration."""

    profiles = frozenset(PROFILES)
    native = frozenset()

    def __init__(self, name: str) -> None:
        self.name = name

    def solve(self, problem):
        raise OptimizationError(
            f"{self.name} {problem.profile.name} on {problem.n} atoms: solver status 'user_limit'"
        )


def _failing(monkeypatch, *names: str) -> None:
    real = optimize_module.make_engine
    monkeypatch.setattr(
        optimize_module,
        "make_engine",
        lambda name: _FailingEngine(name) if name in names else real(name),
    )


def _solved(sample: pd.DataFrame, engine: str, profile: str, cap: float) -> pd.Series:
    return solve_allocation(sample, engine, profile, max_weight=cap).weights


# ---------------------------------------------------------------- allocate


def test_allocate_records_every_atom_row():
    returns = _returns()
    out = allocate(returns, _config())
    assert tuple(out.columns) == ALLOCATION_COLUMNS
    assert list(out["atom_id"]) == list(returns.columns)
    assert isinstance(out.index, pd.RangeIndex)
    np.testing.assert_allclose(out["weight"].sum(), 1.0, rtol=1e-12)
    assert (out["weight"] >= 0).all() and (out["weight"] <= 0.5 + 1e-9).all()
    assert (out["engine"] == "skfolio").all() and (out["engine_used"] == "skfolio").all()
    assert (out["profile"] == "min_variance").all()
    assert (out["fallback_reason"] == "").all() and (out["excluded_reason"] == "").all()
    assert (out["n_obs"] == 120).all()
    assert (out["max_weight"] == 0.5).all() and not out["cap_relaxed"].any()


@pytest.mark.parametrize("engine", ["custom", "skfolio"])
@pytest.mark.parametrize("profile", ["equal_weight", "min_variance"])
def test_allocate_equals_the_engine_fitted_on_the_window(engine, profile):
    returns = _returns()
    out = allocate(returns, _config(engine=engine, profile=profile, fallback=[]))
    expected = _solved(returns.iloc[-120:], engine, profile, 0.5)
    np.testing.assert_allclose(out["weight"].to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_allocate_uses_only_the_last_estimation_days_rows():
    returns = _returns()
    before_window = returns.copy()
    before_window.iloc[:30] = before_window.iloc[:30] * 5.0  # rows outside the last 120
    inside_window = returns.copy()
    inside_window.iloc[-10:, 0] = inside_window.iloc[-10:, 0] * 5.0
    base = allocate(returns, _config(engine="custom"))
    pd.testing.assert_frame_equal(allocate(before_window, _config(engine="custom")), base)
    assert not np.allclose(
        allocate(inside_window, _config(engine="custom"))["weight"], base["weight"]
    )


def test_estimation_days_changes_the_weights():
    returns = _returns()
    short = allocate(returns, _config(engine="custom", estimation_days=40))
    long = allocate(returns, _config(engine="custom", estimation_days=150))
    assert (short["n_obs"] == 40).all() and (long["n_obs"] == 150).all()
    assert np.abs(short["weight"] - long["weight"]).max() > 1e-3


def test_max_weight_changes_the_weights_and_holds():
    returns = _returns(n_atoms=8)
    loose = allocate(returns, _config(max_weight=1.0))
    tight = allocate(returns, _config(max_weight=0.15))
    assert loose["weight"].max() > 0.15
    assert tight["weight"].max() <= 0.15 + 1e-9
    np.testing.assert_allclose(tight["weight"].sum(), 1.0, rtol=1e-12)


def test_shorter_history_than_window_uses_every_row():
    returns = _returns(n_days=50)
    out = allocate(returns, _config(engine="custom"))
    assert (out["n_obs"] == 50).all()
    expected = _solved(returns, "custom", "min_variance", 0.5)
    np.testing.assert_allclose(out["weight"].to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_atom_with_missing_data_is_excluded_with_a_reason():
    returns = _returns()
    returns.iloc[:100, 2] = np.nan  # atom2 starts 50 rows before the end: 50 of 120 observed
    returns.iloc[:, 4] = np.nan  # atom4 never trades
    before = returns.copy()
    out = allocate(returns, _config(engine="custom")).set_index("atom_id")
    pd.testing.assert_frame_equal(returns, before)
    assert out.loc["atom2", "weight"] == 0.0 and out.loc["atom4", "weight"] == 0.0
    assert out.loc["atom2", "excluded_reason"] == (
        "50 of 120 rows observed in the estimation window, expected all"
    )
    assert out.loc["atom4", "excluded_reason"] == "no observation in the last 120 rows"
    assert out.loc["atom2", "n_obs"] == 50 and out.loc["atom4", "n_obs"] == 0
    kept = ["atom0", "atom1", "atom3", "atom5"]
    expected = _solved(returns[kept].iloc[-120:], "custom", "min_variance", 0.5)
    np.testing.assert_allclose(out.loc[kept, "weight"], expected, rtol=1e-12)
    assert (out.loc[kept, "excluded_reason"] == "").all()


def test_fewer_than_two_full_atoms_keeps_the_two_best_observed_on_common_rows():
    returns = _returns(n_atoms=4)
    returns.iloc[:100, 1] = np.nan  # 50 observed
    returns.iloc[:110, 2] = np.nan  # 40 observed
    returns.iloc[:100, 3] = np.nan  # 50 observed (tied with atom1: kept too)
    out = allocate(returns, _config(engine="custom", max_weight=1.0)).set_index("atom_id")
    # atom0 is the only full atom; the second best observation count is 50 (atom1, atom3).
    kept = ["atom0", "atom1", "atom3"]
    sample = returns[kept].iloc[-50:]
    expected = _solved(sample, "custom", "min_variance", 1.0)
    np.testing.assert_allclose(out.loc[kept, "weight"], expected, rtol=1e-12)
    assert out.loc["atom2", "weight"] == 0.0
    assert out.loc["atom2", "excluded_reason"].startswith("40 of 120 rows observed")


def test_single_observed_atom_takes_the_whole_book():
    returns = _returns(n_atoms=2)
    returns.iloc[:, 1] = np.nan
    out = allocate(returns, _config(engine="custom")).set_index("atom_id")
    assert out.loc["atom0", "weight"] == 1.0 and out.loc["atom1", "weight"] == 0.0
    assert out.loc["atom0", "max_weight"] == 1.0 and out.loc["atom0", "cap_relaxed"]


def test_infeasible_cap_is_relaxed_and_recorded():
    out = allocate(_returns(n_atoms=3), _config(max_weight=0.25))
    np.testing.assert_allclose(out["weight"].to_numpy(), np.full(3, 1 / 3), rtol=1e-12)
    np.testing.assert_allclose(out["max_weight"].to_numpy(), np.full(3, 1 / 3), rtol=1e-15)
    assert out["cap_relaxed"].all()


def test_fallback_is_recorded_when_the_first_engine_fails(monkeypatch):
    _failing(monkeypatch, "skfolio")
    returns = _returns()
    out = allocate(returns, _config(engine="skfolio", fallback=["custom"]))
    assert (out["engine"] == "skfolio").all()
    assert (out["engine_used"] == "custom").all()
    reason = out["fallback_reason"].iloc[0]
    assert reason.startswith("skfolio: skfolio min_variance on 6 atoms: solver status 'user_limit'")
    assert (out["fallback_reason"] == reason).all()
    expected = _solved(returns.iloc[-120:], "custom", "min_variance", 0.5)
    np.testing.assert_allclose(out["weight"].to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_every_engine_failing_raises_optimization_error(monkeypatch):
    _failing(monkeypatch, "skfolio", "custom")
    with pytest.raises(OptimizationError, match=r"every engine failed \(skfolio: .*; custom: "):
        allocate(_returns(), _config(engine="skfolio", fallback=["custom"]))


def test_repeated_engine_is_tried_once(monkeypatch):
    _failing(monkeypatch, "skfolio")
    with pytest.raises(OptimizationError, match="every engine failed") as caught:
        allocate(_returns(), _config(engine="skfolio", fallback=["skfolio"]))
    assert str(caught.value).count("solver status") == 1


def test_a_profile_the_engine_does_not_offer_raises_config_error():
    with pytest.raises(ConfigError, match="'cvxportfolio': no profile 'hrp' \\(has: equal_weight"):
        allocate(_returns(), _config(engine="cvxportfolio", profile="hrp"))


def test_allocate_leaves_input_unchanged_and_is_deterministic():
    returns = _returns()
    returns.iloc[:60, 1] = np.nan
    before = returns.copy()
    first = allocate(returns, _config())
    pd.testing.assert_frame_equal(returns, before)
    pd.testing.assert_frame_equal(allocate(returns, _config()), first)


def _bad_returns(kind: str) -> pd.DataFrame:
    good = _returns(n_atoms=3, n_days=30)
    if kind == "empty":
        return good.iloc[:0]
    if kind == "not-dates":
        return good.reset_index(drop=True)
    if kind == "tz-aware":
        return good.tz_localize("UTC")
    if kind == "unsorted":
        return good.iloc[::-1]
    if kind == "duplicate-dates":
        return pd.concat([good, good.iloc[-1:]])
    if kind == "duplicate-atoms":
        return good.set_axis(["a", "a", "b"], axis=1)
    if kind == "inf":
        frame = good.copy()
        frame.iloc[5, 1] = np.inf
        return frame
    if kind == "nothing-observed":
        return good * np.nan
    if kind == "no-common-rows":
        # Interior gaps: atom0 observed on even rows only, atom1 on odd rows only.
        frame = good.iloc[:, :2].copy()
        frame.iloc[::2, 1] = np.nan
        frame.iloc[1::2, 0] = np.nan
        return frame
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        pytest.param("empty", "DataFrame with rows and atoms", id="empty"),
        pytest.param("not-dates", "index must be naive dates", id="not-dates"),
        pytest.param("tz-aware", "index must be naive dates", id="tz-aware"),
        pytest.param("unsorted", "sorted and unique", id="unsorted"),
        pytest.param("duplicate-dates", "sorted and unique", id="duplicate-dates"),
        pytest.param("duplicate-atoms", r"duplicate atom columns \['a'\]", id="duplicate-atoms"),
        pytest.param("inf", "infinite returns in atoms", id="inf"),
        pytest.param(
            "nothing-observed",
            "no atom has an observation in the last 30 rows",
            id="nothing-observed",
        ),
        pytest.param(
            "no-common-rows",
            "share 0 observed rows in the last 30, expected at least 2",
            id="no-common-rows",
        ),
    ],
)
def test_allocate_rejects_bad_returns(kind, match):
    with pytest.raises(DataError, match=match):
        allocate(_bad_returns(kind), _config())


# ---------------------------------------------------------------- flatten and exposure


COMPOSITION = pd.DataFrame(
    {
        "atom_id": ["btc_trend_long", "btc_mr_short", "eth_trend_long", "spy_trend_long", "x"],
        "symbol": ["BTC", "BTC", "ETH", "SPY", "XYZ"],
        "sign": [1, -1, 1, 1, -1],
    }
)


def test_long_and_short_atoms_on_one_symbol_net_out():
    weights = pd.DataFrame({"atom_id": ["btc_trend_long", "btc_mr_short"], "weight": [0.3, 0.3]})
    physical = flatten_weights(weights, COMPOSITION)
    assert tuple(physical.columns) == PHYSICAL_COLUMNS
    assert physical["symbol"].tolist() == ["BTC"]
    np.testing.assert_allclose(physical["net_weight"], [0.0], atol=0)
    np.testing.assert_allclose(physical["gross_weight"], [0.6], rtol=1e-12)
    assert physical["n_atoms"].tolist() == [2]


def test_flatten_hand_example_and_exposure_guard():
    weights = pd.DataFrame(
        {
            "atom_id": ["spy_trend_long", "btc_trend_long", "btc_mr_short", "eth_trend_long"],
            "weight": [0.4, 0.35, 0.1, 0.15],
            "engine": ["custom"] * 4,  # extra columns (allocate's output) are ignored
        }
    )
    before_w, before_c = weights.copy(), COMPOSITION.copy()
    physical = flatten_weights(weights, COMPOSITION)
    pd.testing.assert_frame_equal(weights, before_w)
    pd.testing.assert_frame_equal(COMPOSITION, before_c)
    assert physical["symbol"].tolist() == ["BTC", "ETH", "SPY"]
    np.testing.assert_allclose(physical["net_weight"], [0.35 - 0.1, 0.15, 0.4], rtol=1e-12)
    np.testing.assert_allclose(physical["gross_weight"], [0.45, 0.15, 0.4], rtol=1e-12)
    assert physical["n_atoms"].tolist() == [2, 1, 1]
    target = target_exposure(weights, COMPOSITION)
    np.testing.assert_allclose(target, 0.4 + 0.35 - 0.1 + 0.15, rtol=1e-12)
    assert check_exposure(physical, target) == pytest.approx(target, abs=1e-15)


def test_zero_weight_atom_keeps_its_symbol_but_is_not_counted():
    weights = pd.DataFrame({"atom_id": ["spy_trend_long", "x"], "weight": [1.0, 0.0]})
    physical = flatten_weights(weights, COMPOSITION).set_index("symbol")
    assert physical.loc["XYZ", "n_atoms"] == 0 and physical.loc["XYZ", "net_weight"] == 0.0
    assert physical.loc["SPY", "n_atoms"] == 1


def test_flatten_accepts_allocate_output():
    returns = _returns(n_atoms=3).set_axis(
        ["btc_trend_long", "btc_mr_short", "eth_trend_long"], axis=1
    )
    atoms = allocate(returns, _config(max_weight=1.0))
    physical = flatten_weights(atoms, COMPOSITION)
    check_exposure(physical, target_exposure(atoms, COMPOSITION))
    w = atoms.set_index("atom_id")["weight"]
    np.testing.assert_allclose(
        physical.set_index("symbol").loc["BTC", "net_weight"],
        w["btc_trend_long"] - w["btc_mr_short"],
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    ("physical", "target", "match"),
    [
        (pd.DataFrame({"net_weight": [0.5, 0.4]}), 1.0, r"Σ net weight 0.9 differs from target 1"),
        (pd.DataFrame({"net_weight": [0.5, np.nan]}), 0.5, "differs from target"),
        (pd.DataFrame({"weight": [1.0]}), 1.0, "column 'net_weight' missing"),
    ],
    ids=["mismatch", "nan", "missing-column"],
)
def test_check_exposure_raises(physical, target, match):
    with pytest.raises(DataError, match=match):
        check_exposure(physical, target)


def test_check_exposure_atol_is_honoured():
    physical = pd.DataFrame({"net_weight": [0.5, 0.5 + 1e-7]})
    with pytest.raises(DataError, match="by more than 1e-09"):
        check_exposure(physical, 1.0)
    assert check_exposure(physical, 1.0, atol=1e-6) == pytest.approx(1.0 + 1e-7, abs=1e-15)


@pytest.mark.parametrize(
    ("weights", "composition", "match"),
    [
        (
            pd.DataFrame({"atom_id": ["x"]}),
            COMPOSITION,
            r"atom_weights: missing columns \['weight'\]",
        ),
        (
            pd.DataFrame({"atom_id": ["x"], "weight": [1.0]}),
            COMPOSITION.drop(columns="sign"),
            r"composition: missing columns \['sign'\]",
        ),
        (
            pd.DataFrame({"atom_id": ["x", "x"], "weight": [0.5, 0.5]}),
            COMPOSITION,
            r"atom_weights: duplicate atom_id \['x'\]",
        ),
        (
            pd.DataFrame({"atom_id": ["x"], "weight": [1.0]}),
            pd.concat([COMPOSITION, COMPOSITION.tail(1)]),
            r"composition: duplicate atom_id \['x'\]",
        ),
        (
            pd.DataFrame({"atom_id": ["x"], "weight": [1.0]}),
            COMPOSITION.assign(sign=[1, -1, 1, 1, 0]),
            r"sign must be \+1 or -1, not for atoms \['x'\]",
        ),
        (
            pd.DataFrame({"atom_id": ["x"], "weight": [np.nan]}),
            COMPOSITION,
            r"non-finite weight for atoms \['x'\]",
        ),
        (
            pd.DataFrame({"atom_id": ["nope"], "weight": [1.0]}),
            COMPOSITION,
            r"no row for weighted atoms \['nope'\]",
        ),
    ],
    ids=[
        "no-weight",
        "no-sign",
        "dup-weights",
        "dup-composition",
        "bad-sign",
        "nan-weight",
        "unknown-atom",
    ],
)
def test_flatten_rejects_bad_frames(weights, composition, match):
    with pytest.raises(DataError, match=match):
        flatten_weights(weights, composition)
    with pytest.raises(DataError, match=match):
        target_exposure(weights, composition)


@pytest.mark.parametrize(
    ("regime", "chosen"),
    [
        ("QUIET", "max_sharpe"),
        ("NORMAL", "max_sharpe"),
        ("TURBULENT", "risk_parity"),
        ("CRISIS", "min_variance"),
    ],
)
def test_auto_lets_the_regime_choose_the_profile(regime, chosen):
    returns = _returns() + 0.002  # a drift, so that max Sharpe has a positive-return book
    auto = AllocationConfig(engine="custom", profile="auto", fallback=[])
    fixed = AllocationConfig(engine="custom", profile=chosen, fallback=[])
    got = allocate(returns, auto, regime=regime)
    expected = allocate(returns, fixed, regime=regime)
    assert set(got["profile"]) == {chosen} and set(got["profile_choice"]) == {f"auto: {regime}"}
    np.testing.assert_allclose(got["weight"], expected["weight"], atol=1e-12)
    assert set(expected["profile_choice"]) == {""}


def test_auto_follows_the_profiles_mapping():
    config = AllocationConfig.build(
        {"engine": "custom", "profile": "auto", "regime_profiles": {"crisis": "equal_weight"}}
    )
    got = allocate(_returns(n_atoms=4), config, regime="CRISIS")
    np.testing.assert_allclose(got["weight"], 0.25, atol=1e-12)  # equal weight, by hand


def test_an_unknown_regime_profile_is_a_config_error():
    with pytest.raises(ConfigError, match="regime_profiles"):
        AllocationConfig.build({"profile": "auto", "regime_profiles": {"crisis": "yolo"}})
