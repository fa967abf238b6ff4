"""Tests of the cvxportfolio back-test: the vectorized ledger, re-derived by its MarketSimulator."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("cvxportfolio", reason="the cvxportfolio extra is not installed")

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.simulation.cvx import AGREEMENT_TOLERANCE, simulate_cvxportfolio
from tvs_pipeline.simulation.friction import FrictionModel
from tvs_pipeline.simulation.simulator import LEDGER_COLUMNS, SHORT_STOP, simulate

FRICTION = FrictionModel(slippage_bps=5.0, commission_bps=1.0)
FLOWS = ["gross", "trading_cost", "borrow", "cost", "net", "turnover"]
EXPOSURES = ["long_exposure", "short_exposure", "gross_exposure", "net_exposure"]


def random_book(seed, *, long_short, listings=10, days=250, every=21):
    """Daily returns on business days (some sessions missing) and a decision every ``every``."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2025-01-01", periods=days)
    names = [f"L{i}" for i in range(listings)]
    returns = pd.DataFrame(rng.normal(3e-4, 0.01, (days, listings)), index=index, columns=names)
    returns = returns.mask(rng.random(returns.shape) < 0.03)
    dates = index[::every][:-1]
    if long_short:
        raw = rng.uniform(-0.3, 0.4, (len(dates), listings))
    else:
        raw = rng.dirichlet(np.ones(listings), len(dates)) * 0.95
    return pd.DataFrame(raw, index=dates, columns=names), returns


def assert_ledgers_agree(vectorized, cvx):
    assert list(cvx.columns) == list(LEDGER_COLUMNS)
    pd.testing.assert_index_equal(cvx.index, vectorized.index)
    np.testing.assert_allclose(cvx["net"], vectorized["net"], rtol=0, atol=AGREEMENT_TOLERANCE)
    for column in FLOWS + EXPOSURES:
        np.testing.assert_allclose(cvx[column], vectorized[column], rtol=0, atol=1e-12)
    for column in ("session", "rebalanced"):
        pd.testing.assert_series_equal(cvx[column], vectorized[column])
    # Compounding at most len(ledger) daily differences of AGREEMENT_TOLERANCE.
    final = vectorized["equity"].iloc[-1]
    assert cvx["equity"].iloc[-1] == pytest.approx(final, rel=len(cvx) * AGREEMENT_TOLERANCE)


def test_long_only_monthly_book_agrees():
    weights, returns = random_book(11, long_short=False)
    before = (weights.copy(), returns.copy())
    vectorized = simulate(weights, returns, friction=FRICTION)
    cvx = simulate_cvxportfolio(weights, returns, FRICTION, 0.0)
    assert_ledgers_agree(vectorized, cvx)
    assert cvx["rebalanced"].sum() == len(weights)
    assert (cvx["borrow"] == 0.0).all()
    pd.testing.assert_frame_equal(weights, before[0])
    pd.testing.assert_frame_equal(returns, before[1])


@pytest.mark.parametrize(
    "borrow",
    [250.0, pd.Series({"L0": np.nan} | {f"L{i}": 100.0 * i for i in range(1, 8)})],
    ids=["flat-rate", "per-listing-nan-and-absent"],
)
def test_long_short_book_with_borrow_agrees(borrow):
    weights, returns = random_book(12, long_short=True, every=10)
    # No short can be stopped: no listing's price ever doubles from any earlier close.
    prices = (1.0 + returns.fillna(0.0)).cumprod()
    assert ((prices / prices.cummin()).max() < SHORT_STOP).all()
    vectorized = simulate(weights, returns, friction=FRICTION, borrow_bps_per_year=borrow)
    cvx = simulate_cvxportfolio(weights, returns, FRICTION, borrow)
    assert_ledgers_agree(vectorized, cvx)
    assert (cvx["borrow"] > 0).all()
    if not isinstance(borrow, pd.Series):
        # Per calendar day: a Monday pays three days on its short book (the first row one).
        days = np.r_[1.0, np.diff(cvx.index.to_numpy()) / np.timedelta64(1, "D")]
        assert set(days) == {1.0, 3.0}
        expected = cvx["short_exposure"] * borrow / 1e4 * days / 365.0
        np.testing.assert_allclose(cvx["borrow"], expected, rtol=1e-12)


def one_trade():
    """Decided Thursday: 0.6 of A, −0.2 of B; Friday A +10 %, B +5 %; Monday nothing moves."""
    index = pd.DatetimeIndex(["2025-01-02", "2025-01-03", "2025-01-06"])
    returns = pd.DataFrame({"A": [0.02, 0.10, 0.0], "B": [-0.01, 0.05, 0.0]}, index=index)
    weights = pd.DataFrame({"A": [0.6], "B": [-0.2]}, index=index[:1])
    return weights, returns


def test_one_trade_equals_the_hand_numbers():
    weights, returns = one_trade()
    # Friday: turnover 0.8 at 6 bps; gross 0.6·0.10 − 0.2·0.05; borrow 0.2 at 365 bps for 1 day.
    cost, gross, borrow_1 = 0.8 * 6e-4, 0.05, 0.2 * 365e-4 / 365.0
    net_1 = gross - cost - borrow_1  # 0.0495
    # Monday: B drifted to −0.2·1.05/1.0495 of equity and is borrowed over 3 calendar days.
    borrow_2 = 0.2 * 1.05 / (1.0 + net_1) * 365e-4 * 3.0 / 365.0
    expected = pd.DataFrame(
        {
            "gross": [gross, 0.0],
            "trading_cost": [cost, 0.0],
            "borrow": [borrow_1, borrow_2],
            "net": [net_1, -borrow_2],
            "turnover": [0.8, 0.0],
            "equity": [1.0 + net_1, (1.0 + net_1) * (1.0 - borrow_2)],
            "short_exposure": [0.2, 0.2 * 1.05 / (1.0 + net_1)],
        },
        index=returns.index[1:],
    )
    for run in (
        simulate(weights, returns, friction=FRICTION, borrow_bps_per_year=365.0),
        simulate_cvxportfolio(weights, returns, FRICTION, 365.0),
    ):
        np.testing.assert_allclose(run[expected.columns], expected, rtol=1e-12, atol=1e-15)
        assert run["rebalanced"].tolist() == [True, False]
        assert run["long_exposure"].iloc[0] == pytest.approx(0.6, rel=1e-12)


@pytest.mark.parametrize(
    ("friction", "borrow", "changed"),
    [
        (FrictionModel(slippage_bps=20.0, commission_bps=1.0), 365.0, "trading_cost"),
        (FRICTION, 730.0, "borrow"),
    ],
    ids=["friction-rate", "borrow-rate"],
)
def test_each_rate_moves_its_cost(friction, borrow, changed):
    weights, returns = one_trade()
    base = simulate_cvxportfolio(weights, returns, FRICTION, 365.0)
    other = simulate_cvxportfolio(weights, returns, friction, borrow)
    assert other[changed].iloc[0] > base[changed].iloc[0]
    assert other["net"].iloc[0] < base["net"].iloc[0]


def test_simulate_dispatches_to_cvxportfolio():
    weights, returns = one_trade()
    via = simulate(
        weights, returns, friction=FRICTION, borrow_bps_per_year=365.0, simulator="cvxportfolio"
    )
    pd.testing.assert_frame_equal(via, simulate_cvxportfolio(weights, returns, FRICTION, 365.0))


def test_a_stopped_short_is_where_the_two_part():
    """B doubles on Friday: the vectorized ledger stops it at its capital, cvxportfolio does not."""
    index = pd.DatetimeIndex(["2025-01-02", "2025-01-03", "2025-01-06"])
    returns = pd.DataFrame({"A": [0.0, 0.0, 0.01], "B": [0.0, 1.5, 0.01]}, index=index)
    weights = pd.DataFrame({"A": [0.5], "B": [-0.2]}, index=index[:1])
    vectorized = simulate(weights, returns, friction=FRICTION)
    cvx = simulate_cvxportfolio(weights, returns, FRICTION, 0.0)
    # Friday: the short loses its capital 0.2 (stopped at twice its entry) vs 0.2·1.5.
    assert vectorized["gross"].iloc[0] == pytest.approx(-0.2, rel=1e-12)
    assert cvx["gross"].iloc[0] == pytest.approx(-0.3, rel=1e-12)
    # Monday: the vectorized book no longer holds B; cvxportfolio's still does.
    assert vectorized["short_exposure"].iloc[1] == 0.0
    assert cvx["short_exposure"].iloc[1] > 0.0


def test_a_bankrupt_book_ends_the_cvxportfolio_ledger():
    """Twice levered into A, which falls 60 %: cvxportfolio stops; later rows are NaN."""
    index = pd.DatetimeIndex(["2025-01-02", "2025-01-03", "2025-01-06"])
    returns = pd.DataFrame({"A": [0.0, -0.6, 0.1], "B": [0.0, 0.0, 0.0]}, index=index)
    weights = pd.DataFrame({"A": [2.0], "B": [0.0]}, index=index[:1])
    vectorized = simulate(weights, returns, friction=FRICTION)
    cvx = simulate_cvxportfolio(weights, returns, FRICTION, 0.0)
    assert cvx["equity"].iloc[0] == pytest.approx(vectorized["equity"].iloc[0], rel=1e-12)
    assert cvx["equity"].iloc[0] < 0.0
    numbers = [c for c in LEDGER_COLUMNS if c not in ("session", "rebalanced")]
    assert cvx[numbers].iloc[1].isna().all()
    assert cvx["session"].tolist() == vectorized["session"].tolist()


@pytest.mark.parametrize(
    ("weights", "returns", "match"),
    [
        (
            pd.DataFrame({"A": [0.5], "Z": [0.5]}, index=pd.DatetimeIndex(["2025-01-02"])),
            pd.DataFrame({"A": [0.01, 0.02]}, index=pd.DatetimeIndex(["2025-01-02", "2025-01-03"])),
            "have weights but no returns",
        ),
        (
            pd.DataFrame({"A": [1.0]}, index=pd.DatetimeIndex(["2025-01-03"])),
            pd.DataFrame({"A": [0.01, 0.02]}, index=pd.DatetimeIndex(["2025-01-02", "2025-01-03"])),
            "no return row after the first decision",
        ),
        (
            pd.DataFrame({"A": [1.0]}, index=pd.DatetimeIndex(["2025-01-02"], tz="UTC")),
            pd.DataFrame({"A": [0.01, 0.02]}, index=pd.DatetimeIndex(["2025-01-02", "2025-01-03"])),
            "index must be naive dates",
        ),
    ],
    ids=["missing-listing", "no-row-after", "tz-aware"],
)
def test_unsupported_input_fails_as_the_vectorized_one(weights, returns, match):
    with pytest.raises(DataError, match=match) as vectorized:
        simulate(weights, returns, friction=FRICTION)
    with pytest.raises(DataError, match=match) as cvx:
        simulate_cvxportfolio(weights, returns, FRICTION, 0.0)
    assert str(cvx.value) == str(vectorized.value)


@pytest.mark.parametrize(
    "borrow",
    [-1.0, float("nan"), pd.Series({"A": -5.0})],
    ids=["negative", "nan", "negative-listing"],
)
def test_a_bad_borrow_rate_is_refused(borrow):
    weights, returns = one_trade()
    with pytest.raises(ConfigError, match="borrow_bps_per_year"):
        simulate_cvxportfolio(weights, returns, FRICTION, borrow)


def test_missing_library_names_the_extra(monkeypatch):
    weights, returns = one_trade()
    monkeypatch.setitem(sys.modules, "cvxportfolio", None)
    with pytest.raises(ConfigError, match=r"pip install 'tvs_pipeline\[cvxportfolio\]'"):
        simulate_cvxportfolio(weights, returns, FRICTION, 0.0)
