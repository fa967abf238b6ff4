"""Tests of the performance metrics, re-derived by hand on tiny ledgers."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.simulation.friction import FrictionModel
from tvs_pipeline.simulation.metrics import SUMMARY_KEYS, drawdown, performance_summary
from tvs_pipeline.simulation.walk_forward import walk_forward


def _ledger(net, turnover=None, exposure=None) -> pd.DataFrame:
    n = len(net)
    return pd.DataFrame(
        {
            "market_date": pd.date_range("2025-01-01", periods=n, freq="D").as_unit("ns"),
            "net_return": np.asarray(net, dtype=float),
            "turnover": np.zeros(n) if turnover is None else np.asarray(turnover, dtype=float),
            "exposure": np.ones(n) if exposure is None else np.asarray(exposure, dtype=float),
        }
    )


# ---------------------------------------------------------------- drawdown


def test_drawdown_hand_series():
    equity = pd.Series([1.0, 1.2, 0.9, 1.1], index=list("abcd"))
    before = equity.copy()
    dd = drawdown(equity)
    pd.testing.assert_series_equal(equity, before)
    np.testing.assert_allclose(dd.to_numpy(), [0.0, 0.0, -0.25, 1.1 / 1.2 - 1], rtol=1e-12)
    assert dd.min() == pytest.approx(-0.25, rel=1e-12)
    assert list(dd.index) == list("abcd") and dd.name == "drawdown"


def test_drawdown_of_empty_series_is_empty():
    assert drawdown(pd.Series([], dtype=float)).empty


def test_drawdown_rejects_non_finite():
    with pytest.raises(DataError, match="drawdown: equity holds a non-finite value"):
        drawdown(pd.Series([1.0, np.nan]))


# ---------------------------------------------------------------- summary


def test_summary_hand_series():
    r = [0.10, -0.05, 0.02, -0.01]
    ledger = _ledger(r, turnover=[1.0, 0.0, 0.0, 0.2], exposure=[1.0, 1.0, 0.8, 0.8])
    before = ledger.copy()
    out = performance_summary(ledger, periods_per_year=252)
    pd.testing.assert_frame_equal(ledger, before)
    assert tuple(out) == SUMMARY_KEYS

    growth = 1.10 * 0.95 * 1.02 * 0.99
    annual = growth ** (252 / 4) - 1
    vol = statistics.stdev(r) * math.sqrt(252)
    mean_annual = sum(r) / 4 * 252
    downside = math.sqrt((0.05**2 + 0.01**2) / 4) * math.sqrt(252)
    # Equity path 1, 1.1, 1.045, 1.0659, 1.055241: the worst fall is 1.1 -> 1.045.
    max_dd = 1.045 / 1.1 - 1
    expected = {
        "total_return": growth - 1,
        "annual_return": annual,
        "annual_volatility": vol,
        "sharpe": mean_annual / vol,
        "sortino": mean_annual / downside,
        "calmar": annual / abs(max_dd),
        "max_drawdown": max_dd,
        "cvar_95": -0.05,  # ceil(0.05 * 4) = 1 worst day
        "turnover_annual": 1.2 / 4 * 252,
        "avg_exposure": 0.9,
    }
    for key, value in expected.items():
        np.testing.assert_allclose(out[key], value, rtol=1e-12, err_msg=key)
    assert out["n_days"] == 4 and isinstance(out["n_days"], int)


def test_max_drawdown_from_net_returns():
    # Equity 1.2, 0.9, 1.1 after a start at 1.0: the fall from 1.2 to 0.9 is -25 %.
    out = performance_summary(_ledger([0.2, 0.9 / 1.2 - 1, 1.1 / 0.9 - 1]), 252)
    assert out["max_drawdown"] == pytest.approx(-0.25, rel=1e-12)


def test_first_day_loss_counts_as_drawdown():
    out = performance_summary(_ledger([-0.1, 0.05]), 252)
    assert out["max_drawdown"] == pytest.approx(-0.1, rel=1e-12)


@pytest.mark.parametrize(
    ("n", "k"), [(1, 1), (19, 1), (20, 1), (21, 2), (40, 2), (100, 5)], ids=lambda v: str(v)
)
def test_cvar_averages_the_worst_five_percent(n, k):
    r = np.linspace(-0.05, 0.05, n)[::-1]  # worst days last, to show sorting happens
    out = performance_summary(_ledger(r), 252)
    np.testing.assert_allclose(out["cvar_95"], np.sort(r)[:k].mean(), rtol=1e-12)


def test_zero_volatility_gives_nan_ratios_not_inf():
    out = performance_summary(_ledger([0.001] * 10), 252)
    assert math.isnan(out["sharpe"]) and math.isnan(out["sortino"]) and math.isnan(out["calmar"])
    assert out["max_drawdown"] == 0.0
    assert out["annual_return"] == pytest.approx(1.001**252 - 1, rel=1e-12)


def test_flat_book_has_nan_ratios():
    out = performance_summary(_ledger([0.0] * 5), 252)
    assert out["total_return"] == 0.0 and out["annual_volatility"] == 0.0
    assert all(math.isnan(out[k]) for k in ("sharpe", "sortino", "calmar"))


def test_single_day_has_nan_volatility():
    out = performance_summary(_ledger([0.01]), 252)
    assert math.isnan(out["annual_volatility"]) and math.isnan(out["sharpe"])
    assert out["n_days"] == 1


def test_wiped_out_book_has_annual_return_minus_one():
    out = performance_summary(_ledger([0.05, -1.0]), 252)
    assert out["total_return"] == -1.0 and out["annual_return"] == -1.0
    assert out["max_drawdown"] == -1.0


def test_periods_per_year_changes_annualised_numbers():
    ledger = _ledger([0.01, -0.02, 0.015, 0.003])
    equity, crypto = performance_summary(ledger, 252), performance_summary(ledger, 365)
    assert equity["total_return"] == crypto["total_return"]
    np.testing.assert_allclose(
        crypto["annual_volatility"] / equity["annual_volatility"], math.sqrt(365 / 252)
    )
    assert crypto["annual_return"] != equity["annual_return"]


def test_summary_of_a_walk_forward_ledger():
    rng = np.random.default_rng(3)
    returns = pd.DataFrame(
        rng.normal(0.0005, 0.01, (80, 3)),
        index=pd.date_range("2025-01-01", periods=80, freq="D").as_unit("ns"),
        columns=["a", "b", "c"],
    )
    ledger = walk_forward(
        returns, lambda h: pd.Series(1 / 3, index=h.columns), 20, 10, FrictionModel()
    )
    out = performance_summary(ledger, 252)
    np.testing.assert_allclose(out["total_return"], ledger["equity"].iloc[-1] - 1, rtol=1e-12)
    np.testing.assert_allclose(out["avg_exposure"], 1.0, rtol=1e-12)
    assert out["n_days"] == 70


@pytest.mark.parametrize(
    "periods", [0, -252, 252.0, True], ids=["zero", "negative", "float", "bool"]
)
def test_bad_periods_per_year_raises_config_error(periods):
    with pytest.raises(ConfigError, match=r"periods_per_year .*: expected an integer >= 1"):
        performance_summary(_ledger([0.01]), periods)


@pytest.mark.parametrize(
    ("ledger", "match"),
    [
        (_ledger([0.01]).drop(columns="turnover"), r"ledger lacks columns \['turnover'\]"),
        (_ledger([]), "ledger has no rows"),
        (_ledger([0.01, np.nan]), "non-finite value"),
    ],
    ids=["missing-column", "empty", "nan"],
)
def test_bad_ledger_raises_data_error(ledger, match):
    with pytest.raises(DataError, match=match):
        performance_summary(ledger, 252)
