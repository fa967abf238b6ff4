"""The demo market's return process (tvs_pipeline/market/demo/model.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.market.demo import EPOCH_END, EPOCH_START
from tvs_pipeline.market.demo.epoch import Streams
from tvs_pipeline.market.demo.model import build_paths, simulate_paths


def test_trends_realise_their_sign(market, all_bars):
    truth = market.ground_truth().set_index("symbol")
    span = all_bars.groupby("symbol").agg(
        first=("close", "first"), last=("close", "last"), d0=("date", "first"), d1=("date", "last")
    )
    span = span.join(truth)
    long_trends = span[
        span["kind"].str.startswith("trend") & ((span["d1"] - span["d0"]).dt.days > 730)
    ]
    assert len(long_trends) >= 40
    realised = np.sign(np.log(long_trends["last"] / long_trends["first"]))
    assert (realised == np.sign(long_trends["drift_ann"])).all()


def lag_one_autocorrelation(bars: pd.DataFrame) -> pd.Series:
    returns = np.log(bars.pivot(index="date", columns="symbol", values="close")).diff()
    return returns.apply(lambda r: r.autocorr(1))


def clean_truth(market) -> pd.DataFrame:
    """Ground truth and listing fields of the listings no defect touches, by symbol."""
    truth = market.ground_truth().merge(market.listings, on="symbol").set_index("symbol")
    return truth.drop(market.defects()["symbol"].unique())


def test_trends_are_persistent_and_random_walks_are_not(market, all_bars):
    truth = clean_truth(market)
    coins = truth[(truth["type"] == "spot") & (truth["first_date"] == pd.Timestamp(EPOCH_START))]
    stocks = truth[(truth["type"] == "stock")]
    for group in (coins, stocks):
        rho = lag_one_autocorrelation(all_bars[all_bars["symbol"].isin(group.index)])
        trend = rho[group["kind"].reindex(rho.index).str.startswith("trend")]
        walk = rho[group["kind"].reindex(rho.index) == "random_walk"]
        assert trend.mean() > 0.05
        assert abs(walk.mean()) < 0.03


def test_random_walks_ignore_the_market_factor(market, all_bars):
    truth = clean_truth(market)
    stocks = truth[truth["type"] == "stock"]
    returns = np.log(
        all_bars[all_bars["symbol"].isin(stocks.index)].pivot(
            index="date", columns="symbol", values="close"
        )
    ).diff()
    market_return = returns[stocks.index[stocks["kind"] == "factor"]].mean(axis=1)
    corr = returns.corrwith(market_return)
    assert corr[stocks["kind"] == "factor"].mean() > 0.3
    assert corr[stocks["kind"] == "random_walk"].abs().mean() < 0.1


def test_regimes(market, all_bars):
    regimes = market.regimes()
    assert regimes.index.equals(pd.date_range(EPOCH_START, EPOCH_END, freq="D", name="date"))
    assert set(regimes) == {"calm", "turbulent", "crisis"}
    factor_stocks = market.ground_truth().query("kind == 'factor'")["symbol"]
    stocks = all_bars[
        all_bars["symbol"].isin(factor_stocks) & all_bars["symbol"].str.contains("NYSE|NASDAQ")
    ]
    moves = (
        np.log(stocks.pivot(index="date", columns="symbol", values="close"))
        .diff()
        .abs()
        .mean(axis=1)
    )
    by_regime = moves.groupby(regimes.reindex(moves.index)).mean()
    assert by_regime["calm"] < by_regime["turbulent"] < by_regime["crisis"]


# ------------------------------------------------------------------- the process, by hand
YEAR = 365.0


def spec(key, kind, *, vol=0.0, drift=0.0, phi=0.0, loads=None, price=100.0, anchor=1000):
    return {
        "key": key,
        "kind": kind,
        "price": price,
        "anchor": anchor,
        "loads": loads or {},
        "vol": vol,
        "drift": drift,
        "phi": phi,
    }


def test_daily_vol_adds_the_factor_variance_to_the_own_variance():
    """docs/methodology.md, demo market: annual factor vols 14 % (market), 50 % (crypto)."""
    paths, loads = build_paths(
        [
            spec("walk", "random_walk", vol=0.3),
            spec("stock", "factor", vol=0.1, loads={0: 1.0}),
            spec("coin", "factor", vol=0.2, loads={12: 1.0}),
            spec("levered", "factor", vol=0.1, loads={0: 2.0}),
        ]
    )
    expected = np.array(
        [0.3, np.hypot(0.1, 0.14), np.hypot(0.2, 0.5), np.hypot(0.1, 0.28)]
    ) / np.sqrt(365)
    np.testing.assert_allclose(paths["vol_d"], expected, rtol=1e-12)
    assert loads.shape == (4, 15) and loads[1, 0] == 1.0 and loads[2, 12] == 1.0
    assert loads[0].sum() == 0.0
    assert paths["in_regime"].tolist() == [False, True, True, True]
    assert paths["drift"].iloc[0] == 0.0
    # a factor path's drift is its loadings times the factors' long-run drift: linear in beta
    assert paths["drift"].iloc[3] == pytest.approx(2 * paths["drift"].iloc[1], rel=1e-12)


def test_regimes_follow_the_documented_chain():
    """Persistence 0.99 / 0.967 / 0.96 and vol x1 / x1.8 / x3 (docs/methodology.md)."""
    paths, loads = build_paths([spec("walk", "random_walk", vol=0.3)])
    latent = simulate_paths(paths, loads, Streams(seed=3))
    np.testing.assert_array_equal(latent.vol_mult, np.array([1.0, 1.8, 3.0])[latent.regime])
    today, tomorrow = latent.regime[:-1], latent.regime[1:]
    stay_calm = (tomorrow[today == 0] == 0).mean()
    assert (today == 0).sum() > 1000 and stay_calm == pytest.approx(0.99, abs=0.01)


def test_each_kind_of_path_moves_as_specified():
    price = 50.0
    paths, loads = build_paths(
        [
            spec("walk", "random_walk", vol=0.3, price=price, anchor=1500),
            spec("trend", "trend_up", vol=0.2, drift=0.3, phi=0.5),
            spec("flat", "trend_up", vol=0.0, drift=0.25, price=price, anchor=1500),
            spec("usd", "stablecoin", vol=0.001 * np.sqrt(YEAR)),
        ]
    )
    x = simulate_paths(paths, loads, Streams(seed=5)).x
    assert x.shape == (2922, 4)
    steps = np.diff(x, axis=0)
    # random walk: iid unit-variance shocks times the daily vol, no drift
    assert steps[:, 0].std() == pytest.approx(0.3 / np.sqrt(YEAR), rel=0.05)
    assert abs(steps[:, 0].mean()) < 3 * 0.3 / np.sqrt(YEAR) / np.sqrt(len(steps))
    # trend: AR(1) shocks with phi 0.5, so consecutive returns correlate about 0.5
    trend = pd.Series(steps[:, 1])
    assert trend.autocorr(1) == pytest.approx(0.5, abs=0.06)
    # without vol a path is its drift alone, and it is at its catalog price on its anchor day
    np.testing.assert_allclose(steps[:, 2], 0.25 / YEAR, rtol=1e-9)
    assert np.exp(x[1500, 2]) == pytest.approx(price, rel=1e-9)
    # a stablecoin stays within 5 daily vols of 1 (its shocks are clipped at 5)
    assert np.abs(np.expm1(x[:, 3])).max() <= 0.005 + 1e-12
