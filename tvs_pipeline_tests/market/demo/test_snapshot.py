"""The demo market's scanner snapshot (tvs_pipeline/market/demo/snapshot.py)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.indicators import rsi, wilder_adx, wilder_atr
from tvs_pipeline.market.demo import EPOCH_START
from tvs_pipeline.market.query import DEFAULT_COLUMNS


def test_snapshot_columns_and_rows(market):
    as_of = date(2025, 6, 2)
    snap = market.snapshot(as_of)
    assert list(snap.columns) == ["ticker", *DEFAULT_COLUMNS]
    listed = market.listings.query("first_date <= @as_of")["symbol"]
    assert list(snap["ticker"]) == sorted(listed)
    assert (snap["name"] == snap["ticker"].str.split(":").str[1]).all()
    for column in ("Recommend.All", "Recommend.MA", "Recommend.Other"):
        assert snap[column].between(-1, 1).all()
    old = snap[~snap["ticker"].isin(market.defects().query("defect == 'young'")["symbol"])]
    # FX pairs and futures have no capitalisation (their markets have no such field)
    macro = old["type"].isin(["forex", "futures"])
    assert macro.sum() == 20 and old.loc[macro, "market_cap_basic"].isna().all()
    assert old.drop(columns="market_cap_basic")[macro].notna().all().all()
    assert old.loc[~macro, list(DEFAULT_COLUMNS)].notna().all().all()
    assert (snap["ADX"].dropna().between(0, 100)).all()


def test_snapshot_recomputed_by_hand(market):
    as_of = date(2025, 9, 14)  # a Sunday: stocks read Friday's bar
    snap = market.snapshot(as_of).set_index("ticker")
    symbols = [
        market.listings.query("type == 'stock'")["symbol"].iloc[3],
        "BINANCE:ETHUSDT.P",
        "AMEX:" + market.listings.query("type == 'fund'")["ticker"].iloc[0],
    ]
    for symbol in symbols:
        bars = market.bars([symbol], EPOCH_START, as_of).set_index("date")
        row, last = snap.loc[symbol], bars.iloc[-1]
        close, high, low = bars["close"], bars["high"], bars["low"]
        assert row["close"] == last["close"] and row["volume"] == last["volume"]
        assert row["Value.Traded"] == pytest.approx(last["close"] * last["volume"], rel=1e-12)
        assert row["Volatility.D"] == pytest.approx(
            (last["high"] - last["low"]) / last["low"] * 100
        )
        for field, days in (("Perf.W", 7), ("Perf.1M", 30), ("Perf.3M", 91)):
            then = close.loc[: bars.index[-1] - pd.Timedelta(days=days)].iloc[-1]
            assert row[field] == pytest.approx((last["close"] / then - 1) * 100, rel=1e-12)
        assert row["ATR"] == pytest.approx(wilder_atr(high, low, close).iloc[-1], rel=1e-9)
        assert row["ADX"] == pytest.approx(wilder_adx(high, low, close).iloc[-1], rel=1e-9)
        votes = [np.sign(close.iloc[-1] - close.iloc[-n:].mean()) for n in (10, 20, 50, 100, 200)]
        assert row["Recommend.MA"] == pytest.approx(np.mean(votes))
        strength = rsi(close).iloc[-1]
        rsi_vote = 1.0 if strength < 30 else -1.0 if strength > 70 else 0.0
        other = np.mean([rsi_vote, np.sign(close.iloc[-1] - close.iloc[-11])])
        assert row["Recommend.Other"] == pytest.approx(other)
        assert row["Recommend.All"] == pytest.approx((row["Recommend.MA"] + other) / 2)


def test_crypto_market_cap_is_the_same_on_every_venue(market):
    snap = market.snapshot(date(2025, 6, 2)).set_index("ticker")
    btc = snap.loc[snap["base_currency"] == "BTC", "market_cap_basic"]
    assert len(btc) >= 5 and btc.nunique() == 1
    stock = snap[snap["type"] == "stock"].iloc[0]
    units = stock["market_cap_basic"] / stock["close"]
    later = market.snapshot(date(2025, 7, 1)).set_index("ticker").loc[stock.name]
    assert later["market_cap_basic"] / later["close"] == pytest.approx(units)


def test_young_listing_reports_performance_since_its_first_bar(market):
    young = market.defects().query("defect == 'young'").iloc[0]
    as_of = (young.start + pd.Timedelta(days=40)).date()
    row = market.snapshot(as_of).set_index("ticker").loc[young.symbol]
    bars = market.bars([young.symbol], EPOCH_START, as_of)["close"]
    assert row["Perf.3M"] == pytest.approx((bars.iloc[-1] / bars.iloc[0] - 1) * 100)
    assert young.symbol not in set(
        market.snapshot((young.start - pd.Timedelta(days=1)).date())["ticker"]
    )


@pytest.mark.parametrize(
    "day", [date(2020, 12, 31), date(2029, 1, 1)], ids=["before-epoch", "after-epoch"]
)
def test_snapshot_outside_the_epoch_is_a_data_error(market, day):
    with pytest.raises(DataError, match="outside the epoch"):
        market.snapshot(day)
