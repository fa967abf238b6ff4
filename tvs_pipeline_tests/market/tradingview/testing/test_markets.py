"""What the local servers serve (testing/markets.py): the demo feed and the synthetic sets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.market.demo import DemoMarket
from tvs_pipeline.market.tradingview.testing.markets import (
    DemoFeed,
    SimulatedClock,
    synthetic_history,
    synthetic_universe,
)

DAY = 86_400.0


def test_the_clock_is_settable_and_always_utc():
    clock = SimulatedClock(datetime(2025, 9, 2, 4, 0, tzinfo=timezone(timedelta(hours=2))))
    assert clock() == datetime(2025, 9, 2, 2, 0, tzinfo=UTC) and clock().tzinfo == UTC
    clock.set(datetime(2025, 9, 3, 1, 0, tzinfo=UTC))
    assert clock() == datetime(2025, 9, 3, 1, 0, tzinfo=UTC)


def test_the_synthetic_universe_has_the_awkward_cases():
    frame = synthetic_universe(500)
    assert frame["ticker"].is_unique and frame.index.equals(pd.RangeIndex(len(frame)))
    assert frame["Value.Traded"].isna().any()  # listings without a traded value
    assert frame["Value.Traded"].iloc[4:9].nunique() == 1  # rows 5-8 tie with row 4
    futures = frame.loc[frame["exchange"] == "COMEX"]
    assert len(futures) > 0 and futures["ticker"].str.endswith("!").all()
    assert (futures["type"] == "futures").all()
    assert {"Recommend.All|240", "ADX|1W"} <= set(frame.columns)
    pd.testing.assert_frame_equal(frame, synthetic_universe(500))
    assert not frame["close"].equals(synthetic_universe(500, seed=12)["close"])


def test_synthetic_history_serves_the_bars_opened_up_to_now():
    start = date(2024, 1, 1)
    origin = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    history = synthetic_history(10, start)
    now = datetime(2024, 1, 4, 12, 0, tzinfo=UTC)  # 3.5 days in: bars of Jan 1..4
    data = history("BINANCE:AAAUSDT", now)
    np.testing.assert_array_equal(data.times, origin + DAY * np.arange(4))
    assert data.bar_close_time == origin + 4 * DAY > now.timestamp()  # Jan 4 still forming
    opens, highs, lows, closes = data.values[:, :4].T
    assert (highs >= np.maximum(opens, closes)).all() and (lows <= np.minimum(opens, closes)).all()
    np.testing.assert_array_equal(opens[1:], closes[:-1])  # each open is the last close
    assert data.info["pro_name"] == "BINANCE:AAAUSDT" and data.volume
    np.testing.assert_array_equal(history("BINANCE:AAAUSDT", now).values, data.values)
    assert not np.array_equal(history("BINANCE:BBBUSDT", now).values, data.values)
    assert history("BINANCE:NOPEUSDT", now) is None
    assert not synthetic_history(10, start, volume=False)("X:A", now).volume
    late = history("BINANCE:AAAUSDT", datetime(2024, 3, 1, tzinfo=UTC))
    assert len(late.times) == 10  # never more than it has


@pytest.fixture(scope="module")
def feed():
    return DemoFeed(DemoMarket(seed=7, scale=100), unknown=("BINANCE:BTCUSDT",))


def test_the_scanner_sees_the_latest_complete_day_of_the_clock(feed):
    clock = SimulatedClock(datetime(2025, 7, 1, 2, 0, tzinfo=UTC))
    rows = feed.universe(clock)
    snapshot = feed.market.snapshot(date(2025, 6, 30))
    pd.testing.assert_frame_equal(rows("*").reset_index(drop=True), snapshot)
    crypto = rows("crypto")
    classes = feed.market.listings.set_index("symbol").loc[crypto["ticker"], "asset_class"]
    assert len(crypto) > 0 and set(classes) == {"crypto"}
    markets = ("america", "crypto", "forex", "futures")
    assert sum(len(rows(name)) for name in markets) == len(snapshot)
    assert (len(rows("forex")), len(rows("futures"))) == (10, 10)  # the demo's FX and futures
    assert rows("cfd").empty and rows("mars") is None
    clock.set(datetime(2025, 7, 2, 2, 0, tzinfo=UTC))  # a day later, the next snapshot
    assert not rows("*")["close"].equals(snapshot["close"])


def test_history_stamps_bars_at_their_session_open(feed):
    listings = feed.market.listings
    stock = listings.loc[listings["calendar"] == "XNYS", "symbol"].iloc[0]
    now = datetime(2025, 7, 1, 15, 0, tzinfo=UTC)  # 11:00 in New York: today's bar is forming
    data = feed.history(stock, now)
    opens = pd.to_datetime(data.times, unit="s", utc=True)
    assert opens[-1] == pd.Timestamp("2025-07-01 13:30", tz="UTC")  # 09:30 EDT
    assert pd.Timestamp("2025-01-02 14:30", tz="UTC") in opens  # 09:30 EST
    assert data.bar_close_time == pd.Timestamp("2025-07-01 20:00", tz="UTC").timestamp()
    coin = "BINANCE:ETHUSDT"
    coin_opens = pd.to_datetime(feed.history(coin, now).times, unit="s", utc=True)
    assert (coin_opens.strftime("%H:%M") == "00:00").all() and coin_opens[-1].day == 1
    # FX opens 17:00 New York the evening before (21:00 UTC in July): Tuesday's bar is forming
    fx_opens = pd.to_datetime(feed.history("FX:EURUSD", now).times, unit="s", utc=True)
    assert fx_opens[-1] == pd.Timestamp("2025-06-30 21:00", tz="UTC")
    assert feed.history("BINANCE:BTCUSDT", now) is None  # told to pretend it does not know it
    assert feed.history("NASDAQ:NOPE", now) is None
