"""The demo market's listings (tvs_pipeline/market/demo/catalog.py): composition, truth."""

from __future__ import annotations

import pytest

from tvs_pipeline.market.demo import DemoMarket


def test_composition_at_scale_300(market):
    """300 listings, then the planted ones: per kind 0.06 x 300 = 18 stocks and 0.015 x 300 =
    4.5 -> 4 crypto bases on two venues (36 stocks and 16 crypto listings in all); then the
    seven FX majors, three crosses and ten continuous futures (issue 17)."""
    listings = market.listings
    assert len(listings) == 300 + 36 + 16 + 10 + 10
    assert listings["symbol"].is_unique and listings["symbol"].is_monotonic_increasing
    counts = listings["asset_class"].value_counts().to_dict()
    assert counts == {
        "equity": 150 + 36,
        "crypto": 120 + 16,
        "etf": 30,
        "forex": 10,
        "futures": 10,
    }
    by_class = listings.groupby("asset_class")
    assert set(by_class.get_group("equity")["exchange"]) == {"NYSE", "NASDAQ"}
    assert set(by_class.get_group("etf")["exchange"]) == {"AMEX"}
    assert set(by_class.get_group("crypto")["exchange"]) == {"BINANCE", "BYBIT", "OKX"}
    assert set(by_class.get_group("forex")["exchange"]) == {"FX"}
    assert set(by_class.get_group("futures")["exchange"]) == {"CME_MINI", "CBOT", "COMEX", "NYMEX"}
    assert set(by_class.get_group("equity")["type"]) == {"stock"}
    assert set(by_class.get_group("etf")["type"]) == {"fund"}
    assert set(by_class.get_group("crypto")["type"]) == {"spot", "swap"}
    assert set(by_class.get_group("forex")["type"]) == {"forex"}
    assert set(by_class.get_group("futures")["type"]) == {"futures"}
    assert by_class.get_group("equity")["sector"].nunique() == 11
    assert set(by_class.get_group("etf")["sector"]) == {"Equity", "Fixed Income", "Commodities"}
    assert set(by_class.get_group("crypto")["sector"]) == {"Cryptocurrency"}
    calendars = listings.groupby("asset_class")["calendar"].unique().map(set).to_dict()
    assert calendars == {
        "crypto": {"24/7"},
        "equity": {"XNYS"},
        "etf": {"XNYS"},
        "forex": {"24/5"},
        "futures": {"CMES"},
    }
    fx = by_class.get_group("forex")
    assert set(listings["currency"]) == {"USD", "USDT", "USDC", "FDUSD"} | set(fx["currency"])
    assert (fx["base_currency"] + fx["currency"] == fx["ticker"]).all()  # EURUSD: EUR / USD
    assert set(fx["ticker"]) >= {"EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCAD", "USDCHF",
                                 "NZDUSD"}  # fmt: skip
    futures = by_class.get_group("futures")
    assert futures["ticker"].str.fullmatch(r"[A-Z0-9]+1!").all()  # continuous front month
    assert {"COMEX:GC1!", "NYMEX:CL1!", "CME_MINI:ES1!", "CBOT:ZN1!"} <= set(futures["symbol"])
    expected = {
        "BINANCE:BTCUSDT",
        "BINANCE:BTCFDUSD",
        "BINANCE:BTCUSDT.P",
        "BYBIT:BTCUSDT.P",
        "OKX:BTCUSDT",
        "BINANCE:1000PEPEUSDT.P",
        "BYBIT:1000PEPEUSDT.P",
        "BINANCE:PEPEUSDT",
        "BINANCE:1000SHIBUSDT.P",
        "BINANCE:USDCUSDT",
        "BINANCE:FDUSDUSDT",
    }
    assert expected <= set(listings["symbol"])
    assert list(listings.columns) == [
        "symbol",
        "exchange",
        "ticker",
        "type",
        "asset_class",
        "calendar",
        "sector",
        "base_currency",
        "currency",
        "multiplier",
        "first_date",
        "last_date",
        "description",
    ]


def test_multiplier_and_base_fields(market):
    listings = market.listings.set_index("symbol")
    pepe = listings.loc["BINANCE:1000PEPEUSDT.P"]
    assert (pepe["multiplier"], pepe["base_currency"], pepe["currency"]) == (1000, "PEPE", "USDT")
    assert set(listings.loc[listings["multiplier"] > 1].index.str.split(":").str[1].str[:4]) == {
        "1000"
    }
    stable = listings.loc["BINANCE:USDCUSDT"]
    assert (stable["base_currency"], stable["currency"], stable["type"]) == ("USDC", "USDT", "spot")
    truth = market.ground_truth().set_index("symbol")
    assert truth.loc[["BINANCE:USDCUSDT", "BINANCE:FDUSDUSDT"], "kind"].eq("stablecoin").all()


def test_proportions_hold_at_the_smallest_scale():
    """Half stocks, a tenth ETFs; crypto (78 young-token listings among them) keeps a floor;
    the planted listings come on top: per kind 6 stocks and 2 crypto bases on two venues."""
    scale = 100
    market = DemoMarket(scale=scale)
    truth = market.ground_truth().merge(market.listings, on="symbol")
    counts = truth.loc[~truth["kind"].isin(["mean_revert", "rated"]), "asset_class"].value_counts()
    assert (counts["equity"], counts["etf"]) == (round(0.5 * scale), round(0.1 * scale))
    assert counts["crypto"] == max(scale - counts["equity"] - counts["etf"], 32 + 78)
    planted = truth.loc[truth["kind"].isin(["mean_revert", "rated"])]
    assert planted.groupby(["kind", "asset_class"]).size().to_dict() == {
        ("mean_revert", "crypto"): 4,
        ("mean_revert", "equity"): 6,
        ("rated", "crypto"): 4,
        ("rated", "equity"): 6,
    }
    assert set(market.defects()["defect"]) == {
        "gap_1",
        "gap_multi",
        "spike",
        "frozen",
        "stale",
        "young",
    }


def test_ground_truth_mix_and_venues(market):
    truth = market.ground_truth().merge(market.listings, on="symbol")
    assert set(truth["kind"]) == {
        "random_walk",
        "trend_up",
        "trend_down",
        "factor",
        "stablecoin",
        "mean_revert",
        "rated",
    }
    planted = truth["kind"].isin(["mean_revert", "rated"])
    stocks = truth[(truth["asset_class"] == "equity") & ~planted]["kind"]
    stocks = stocks.value_counts(normalize=True)
    assert stocks["random_walk"] == pytest.approx(0.2)
    assert stocks["trend_up"] == pytest.approx(0.1) and stocks["trend_down"] == pytest.approx(0.1)
    crypto = truth[truth["asset_class"] == "crypto"]
    assert (crypto.groupby("base_currency")["kind"].nunique() == 1).all()
    assert (truth.loc[truth["kind"] == "random_walk", "drift_ann"] == 0).all()
    # trends: 20-40 % a year for stocks, 30-80 % crypto; FX and futures trend at 1.7-2.5 times
    # an idiosyncratic vol of 5-9 % (FX) or 8-20 % (futures): at least 8.5 % a year
    macro = truth["asset_class"].isin(["forex", "futures"])
    floor = truth["asset_class"].map({"forex": 1.7 * 0.05, "futures": 1.7 * 0.08}).fillna(0.2)
    up, down = truth["kind"] == "trend_up", truth["kind"] == "trend_down"
    assert (truth.loc[up, "drift_ann"] >= floor[up]).all() and up[macro].sum() == 2
    assert (truth.loc[down, "drift_ann"] <= -floor[down]).all() and down[macro].sum() == 2
    for asset_class in ("forex", "futures"):  # the 20/10/10/60 mix, ten listings each
        kinds = truth.loc[truth["asset_class"] == asset_class, "kind"].value_counts().to_dict()
        assert kinds == {"factor": 6, "random_walk": 2, "trend_up": 1, "trend_down": 1}
    assert not truth.loc[macro, "kind"].isin(["mean_revert", "rated", "stablecoin"]).any()
    # the planted kinds: a half-life of 1-5 sessions, a rating signal of 0.15-0.25 sd per unit
    reverting, rated = truth[truth["kind"] == "mean_revert"], truth[truth["kind"] == "rated"]
    assert (
        reverting["half_life"].between(1.0, 5.0).all()
        and truth.loc[~planted, "half_life"].isna().all()
    )
    assert rated["rating_signal"].between(0.15, 0.25).all()
    assert (truth.loc[truth["kind"] != "rated", "rating_signal"] == 0).all()
    assert (truth.loc[planted, "drift_ann"] == 0).all()
