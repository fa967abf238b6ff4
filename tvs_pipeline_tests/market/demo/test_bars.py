"""The demo market's bars (tvs_pipeline/market/demo/bars.py): calendars, shape, planted defects."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.funnel.calendars import sessions
from tvs_pipeline.market.demo import EPOCH_END, EPOCH_START, DemoMarket

BAR_COLUMNS = ["symbol", "date", "open", "high", "low", "close", "volume", "time"]


def listing(market: DemoMarket, symbol: str) -> pd.Series:
    return market.listings.set_index("symbol").loc[symbol]


# ------------------------------------------------------------------------------- calendars
def stock_and_coin(market):
    """A stock and a coin that trade the whole epoch without a planted defect."""
    listings = market.listings
    clean = ~listings["symbol"].isin(market.defects()["symbol"])
    old = listings["first_date"] <= pd.Timestamp("2021-01-04")
    stock = listings.loc[clean & old & (listings["type"] == "stock"), "symbol"].iloc[0]
    coin = listings.loc[clean & old & (listings["type"] == "spot"), "symbol"].iloc[0]
    return stock, coin


@pytest.mark.parametrize(
    "day",
    [date(2025, 12, 25), date(2025, 7, 4), date(2025, 6, 7), date(2025, 6, 8)],
    ids=["christmas", "independence-day", "saturday", "sunday"],
)
def test_closed_days_exist_for_crypto_only(market, day):
    stock, coin = stock_and_coin(market)
    found = set(market.bars([stock, coin], day, day)["symbol"])
    assert found == {coin}


def test_stocks_trade_exactly_the_xnys_sessions(market):
    stock, coin = stock_and_coin(market)
    window = (date(2025, 1, 1), date(2025, 12, 31))
    assert list(market.bars([stock], *window)["date"]) == list(sessions("XNYS", *window))
    assert list(market.bars([coin], *window)["date"]) == list(sessions("24/7", *window))


@pytest.mark.parametrize(
    ("symbol", "calendar"),
    [("FX:EURUSD", "24/5"), ("FX:GBPJPY", "24/5"), ("COMEX:GC1!", "CMES"), ("CBOT:ZN1!", "CMES")],
)
def test_fx_and_futures_trade_exactly_their_calendars(market, symbol, calendar):
    """FX every weekday (Christmas too, no weekend); futures on CME Globex sessions."""
    window = (date(2024, 12, 20), date(2025, 12, 31))
    bars = market.bars([symbol], *window)
    assert list(bars["date"]) == list(sessions(calendar, *window))
    assert listing(market, symbol)["calendar"] == calendar
    fx = calendar == "24/5"
    assert (pd.Timestamp("2024-12-25") in set(bars["date"])) == fx  # CME: closed for Christmas
    assert not bars["date"].dt.day_of_week.isin([5, 6]).any()


def test_fx_and_futures_bars_are_stamped_the_evening_before(market):
    """TradingView stamps an FX daily bar at 17:00 New York and a CME future at 17:00 Chicago
    of the evening before its session: by hand, Monday 2025-01-06 and Tuesday 2025-07-08."""
    days = [date(2025, 1, 6), date(2025, 7, 8)]
    bars = market.bars(["FX:USDJPY", "NYMEX:CL1!", "BINANCE:ETHUSDT", "AMEX:" + listing_ticker(
        market, "fund")], days[0], days[1]).set_index(["symbol", "date"])  # fmt: skip
    stamp = {
        ("FX:USDJPY", "2025-01-06"): "2025-01-05 22:00",
        ("FX:USDJPY", "2025-07-08"): "2025-07-07 21:00",
        ("NYMEX:CL1!", "2025-01-06"): "2025-01-05 23:00",
        ("NYMEX:CL1!", "2025-07-08"): "2025-07-07 22:00",
        ("BINANCE:ETHUSDT", "2025-01-06"): "2025-01-06 00:00",
        ("BINANCE:ETHUSDT", "2025-07-08"): "2025-07-08 00:00",
    }
    for (symbol, day), expected in stamp.items():
        assert bars.loc[(symbol, pd.Timestamp(day)), "time"] == pd.Timestamp(expected, tz="UTC")
    fund = bars.xs(pd.Timestamp("2025-07-08"), level="date").filter(like="AMEX:", axis=0)
    assert list(fund["time"]) == [pd.Timestamp("2025-07-08 13:30", tz="UTC")]  # NYSE, EDT


def listing_ticker(market: DemoMarket, type_: str) -> str:
    return market.listings.query("type == @type_")["ticker"].iloc[0]


def test_bars_shape_and_order(market):
    symbols = ["BINANCE:ETHUSDT", "AMEX:UNKNOWN", "NOPE", "BINANCE:BTCUSDT"]
    bars = market.bars(symbols, date(2025, 2, 1), date(2025, 2, 10))
    assert list(bars.columns) == BAR_COLUMNS
    assert bars["date"].dtype == "datetime64[ns]"
    assert (bars["date"] == bars["date"].dt.normalize()).all()
    assert str(bars["time"].dtype) == "datetime64[ns, UTC]"
    assert (bars["time"].dt.tz_localize(None) == bars["date"]).all()  # crypto opens 00:00 UTC
    assert list(bars["symbol"].unique()) == ["BINANCE:BTCUSDT", "BINANCE:ETHUSDT"]
    assert bars.equals(bars.sort_values(["symbol", "date"], ignore_index=True))
    assert len(bars) == 20
    for empty in (
        market.bars(["NOPE"], date(2025, 2, 1), date(2025, 2, 10)),
        market.bars(["BINANCE:BTCUSDT"], date(2025, 2, 10), date(2025, 2, 1)),
        market.bars(["BINANCE:BTCUSDT"], date(2019, 1, 1), date(2020, 12, 31)),
    ):
        assert list(empty.columns) == BAR_COLUMNS and empty.empty


def test_ohlc_sanity(all_bars):
    prices = all_bars[["open", "high", "low", "close"]]
    assert prices.notna().all().all() and (all_bars["low"] > 0).all()
    assert (all_bars["high"] >= prices[["open", "close"]].max(axis=1)).all()
    assert (all_bars["low"] <= prices[["open", "close"]].min(axis=1)).all()
    assert (all_bars["volume"] > 0).all()
    assert not all_bars.duplicated(["symbol", "date"]).any()


def test_bars_stay_inside_first_and_last_date(market, all_bars):
    span = all_bars.groupby("symbol")["date"].agg(["min", "max"])
    listings = market.listings.set_index("symbol")
    assert (span["min"] == listings["first_date"]).all()
    halted = listings["last_date"].notna()
    assert (span.loc[halted, "max"] == listings.loc[halted, "last_date"]).all()
    # Only halt hosts whose last halt runs into the epoch's end stop early.
    stale = set(market.defects().query("defect == 'stale'")["symbol"])
    assert 0 < halted.sum() and set(listings.index[halted]) <= stale


def test_multiplier_listing_quotes_a_thousand_times_the_base(market):
    window = (date(2025, 1, 1), date(2025, 12, 31))
    base = market.bars(["OKX:PEPEUSDT"], *window).set_index("date")["close"]
    perp = market.bars(["BINANCE:1000PEPEUSDT.P"], *window).set_index("date")["close"]
    ratio = (perp / base).dropna()
    assert len(ratio) > 300
    np.testing.assert_allclose(ratio, 1000.0, rtol=0.005)


def test_venues_of_a_base_share_one_path(market):
    venues = ["BINANCE:ETHUSDT", "BINANCE:ETHUSDT.P", "OKX:ETHUSDT", "BINANCE:ETHFDUSD"]
    closes = market.bars(venues, date(2025, 1, 1), date(2025, 6, 30)).pivot(
        index="date", columns="symbol", values="close"
    )
    spread = closes.max(axis=1) / closes.min(axis=1) - 1
    assert spread.max() < 0.005


def test_stablecoins_stay_near_one(market):
    bars = market.bars(["BINANCE:USDCUSDT", "BINANCE:FDUSDUSDT"], EPOCH_START, EPOCH_END)
    assert bars["close"].between(0.995, 1.005).all()


# --------------------------------------------------------------------------------- defects
def bars_around(market, row, before=15, after=15):
    start = (row.start - pd.Timedelta(days=before)).date()
    end = (row.end + pd.Timedelta(days=after)).date()
    return market.bars([row.symbol], start, end).set_index("date")


def calendar_of(market, symbol):
    return listing(market, symbol)["calendar"]


def check_gap(market, row, length):
    bars = bars_around(market, row)
    expected = sessions(calendar_of(market, row.symbol), row.start.date(), row.end.date())
    assert len(expected) == length
    assert not expected.isin(bars.index).any()
    wider = sessions(
        calendar_of(market, row.symbol),
        bars.index.min().date(),
        bars.index.max().date(),
    )
    assert len(wider) - len(bars) == length  # nothing else is missing around it


def check_spike(market, row):
    closes = bars_around(market, row)["close"]
    at = closes.index.get_loc(row.start)
    assert closes.iloc[at] / closes.iloc[at - 1] == pytest.approx(10.0)
    assert closes.iloc[at + 1] / closes.iloc[at] < 0.2


def check_frozen(market, row):
    bars = bars_around(market, row)
    flat = bars.loc[row.start : row.end]
    assert len(flat) == 7
    assert (flat[["open", "high", "low", "close"]].to_numpy() == flat["close"].iloc[0]).all()
    before = bars.loc[: row.start - pd.Timedelta(days=1), "close"].iloc[-1]
    assert before != flat["close"].iloc[0]


def check_stale(market, row):
    during = market.bars([row.symbol], row.start.date(), row.end.date())
    assert during.empty
    last = market.bars([row.symbol], EPOCH_START, row.start.date())
    later = market.snapshot((row.start + (row.end - row.start) / 2).date()).set_index("ticker")
    assert later.loc[row.symbol, "close"] == last["close"].iloc[-1]
    assert later.loc[row.symbol, "Value.Traded"] > 0


def check_young(market, row):
    first = market.bars([row.symbol], EPOCH_START, EPOCH_END)["date"].iloc[0]
    assert first == row.start == listing(market, row.symbol)["first_date"]
    assert (row.end - row.start).days == 89 or row.end.date() == EPOCH_END


CHECKS = {
    "gap_1": lambda m, r: check_gap(m, r, 1),
    "gap_multi": lambda m, r: check_gap(m, r, 5),
    "spike": check_spike,
    "frozen": check_frozen,
    "stale": check_stale,
    "young": check_young,
}


@pytest.mark.parametrize("kind", list(CHECKS), ids=list(CHECKS))
def test_each_planted_defect_is_visible_in_bars(market, kind):
    rows = market.defects().query("defect == @kind")
    assert len(rows) > 0
    for row in rows.itertuples(index=False):
        CHECKS[kind](market, row)


def test_defects_spread_over_stocks_and_crypto(market):
    defects = market.defects().merge(market.listings, on="symbol")
    for kind in ("gap_1", "gap_multi", "spike", "frozen"):
        classes = set(defects.loc[defects["defect"] == kind, "asset_class"])
        assert classes == {"equity", "crypto"}, kind
    assert len(defects.loc[defects["defect"] == "stale", "symbol"].unique()) == 4


def test_every_window_holds_every_defect(market):
    defects = market.defects()
    for as_of in pd.date_range("2024-06-01", "2028-12-31", freq="5D"):
        window = defects[
            (defects["end"] >= as_of - pd.Timedelta(days=499)) & (defects["start"] <= as_of)
        ]
        # The stale listing halts on 2024-06-03, so windows ending before it cannot hold it.
        wanted = set(CHECKS) - ({"stale"} if as_of < pd.Timestamp("2024-06-03") else set())
        assert set(window["defect"]) >= wanted, as_of
        gaps = window.loc[window["defect"] == "gap_1", "symbol"].value_counts()
        assert gaps.max() == 1 and len(gaps) >= 1, as_of
        if as_of >= pd.Timestamp("2024-09-01"):  # one listing has been halted >= 75 days
            halted = defects[(defects["defect"] == "stale") & (defects["end"] >= as_of)]
            assert (halted["start"] <= as_of - pd.Timedelta(days=75)).any(), as_of
        young = defects[(defects["defect"] == "young") & (defects["start"] <= as_of)]
        assert (young["end"] >= as_of).any(), as_of


def test_defect_hosts_are_liquid(market):
    snapshot = market.snapshot(date(2025, 6, 2)).set_index("ticker")
    hosts = market.defects().query("defect != 'young'")["symbol"].unique()
    floors = np.where(snapshot.loc[hosts, "type"].isin(["stock", "fund"]), 1e7, 1e6)
    assert (snapshot.loc[hosts, "Value.Traded"] >= floors).all()
