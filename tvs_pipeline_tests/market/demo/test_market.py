"""DemoMarket (tvs_pipeline/market/demo/market.py): determinism, parameters, shocks, scans."""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.config import FilterRule, load_profile, load_scanner
from tvs_pipeline.errors import ConfigError, SourceError
from tvs_pipeline.market.demo import EPOCH_END, EPOCH_START, DemoMarket
from tvs_pipeline.market.query import build_scan_query

SHOCK_DAY = date(2025, 3, 15)  # a Saturday: stocks resume on Monday from new draws
SCAN_DAYS = [date(2025, 4, 2), date(2025, 10, 2), date(2026, 4, 3), date(2026, 6, 3)]


@pytest.fixture(scope="module")
def shocked() -> DemoMarket:
    return DemoMarket(shock_after=SHOCK_DAY)


# ---------------------------------------------------------------------------- determinism
@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2025, 6, 10), date(2025, 6, 10)),
        (date(2025, 6, 1), date(2025, 6, 30)),
        (date(2024, 1, 1), date(2026, 12, 31)),
        (EPOCH_START, EPOCH_END),
    ],
    ids=["one-day", "month", "three-years", "epoch"],
)
def test_same_bar_whatever_window(market, start, end):
    symbols = ["BINANCE:BTCUSDT", "BINANCE:1000PEPEUSDT.P", market.listings["symbol"].iloc[0]]
    wide = market.bars(symbols, EPOCH_START, EPOCH_END).set_index(["symbol", "date"])
    narrow = market.bars(symbols, start, end).set_index(["symbol", "date"])
    assert len(narrow) > 0
    pd.testing.assert_frame_equal(narrow, wide.loc[narrow.index])


def test_same_seed_gives_equal_markets(market, all_bars):
    twin = DemoMarket(seed=7)
    pd.testing.assert_frame_equal(twin.listings, market.listings)
    pd.testing.assert_frame_equal(
        twin.bars(twin.listings["symbol"], EPOCH_START, EPOCH_END), all_bars
    )
    pd.testing.assert_frame_equal(
        twin.snapshot(date(2026, 2, 2)), market.snapshot(date(2026, 2, 2))
    )
    pd.testing.assert_frame_equal(twin.defects(), market.defects())
    pd.testing.assert_frame_equal(twin.ground_truth(), market.ground_truth())
    pd.testing.assert_series_equal(twin.regimes(), market.regimes())


def test_different_seed_differs(market):
    other = DemoMarket(seed=8)
    symbol = "BINANCE:BTCUSDT"
    mine = market.bars([symbol], date(2025, 1, 1), date(2025, 3, 1))["close"].to_numpy()
    theirs = other.bars([symbol], date(2025, 1, 1), date(2025, 3, 1))["close"].to_numpy()
    assert len(mine) == len(theirs) and not np.allclose(mine, theirs)
    assert not other.regimes().equals(market.regimes())


def test_pinned_regression(market):
    """Pinned from DemoMarket(seed=7, scale=300) when the generator was written: a deliberate
    change to the generator updates these values, an accidental one (or a numpy stream change)
    fails here."""
    close = market.bars(["BINANCE:BTCUSDT"], date(2025, 1, 2), date(2025, 1, 2))["close"]
    assert close.iloc[0] == pytest.approx(257351.27504504067, rel=1e-9)
    hosts = market.defects().groupby("defect")["symbol"].unique().map(sorted)
    assert hosts["stale"] == ["NASDAQ:NLRZ", "NASDAQ:QMG", "NYSE:NKP", "NYSE:SKK"]
    assert hosts["frozen"] == ["BYBIT:BTCUSDT.P", "NYSE:TRNS"]
    assert hosts["gap_1"] == ["BINANCE:BNBUSDT", "NYSE:CRX"]


def test_fx_and_futures_leave_every_other_listing_unchanged(market):
    """Pinned on commit e54c482, before the FX and futures listings (issue 17) were added from
    a stream of their own: the 352 other listings keep every bar and snapshot field."""
    listings = market.listings
    old = listings.loc[~listings["asset_class"].isin(["forex", "futures"]), "symbol"].tolist()
    bars = market.bars(old, EPOCH_START, EPOCH_END)
    assert (len(old), len(bars)) == (352, 670_897)
    assert np.log(bars["close"]).sum() == pytest.approx(2124941.7890925026, rel=1e-12)
    assert np.log(bars["volume"]).sum() == pytest.approx(10127504.636015315, rel=1e-12)
    assert (bars["high"] / bars["low"]).sum() == pytest.approx(697784.9512318755, rel=1e-12)
    snap = market.snapshot(date(2026, 3, 16)).set_index("ticker").reindex(old).dropna(how="all")
    assert len(snap) == 308
    assert snap["ADX"].sum() == pytest.approx(7552.731951199998, rel=1e-12)
    assert snap["Recommend.All"].sum() == pytest.approx(25.71666666666667, rel=1e-12)
    assert snap["Perf.3M"].sum() == pytest.approx(-949.3358934151845, rel=1e-12)


# ------------------------------------------------------------------------------ parameters
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"scale": 50}, "scale 50: must be >= 100"), ({"seed": -1}, "seed -1: must be >= 0")],
    ids=["scale-too-small", "negative-seed"],
)
def test_bad_parameters_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DemoMarket(**kwargs)


def test_listings_are_a_copy(market):
    listings = market.listings
    listings["symbol"] = "X"
    assert market.listings["symbol"].iloc[0] != "X"


# -------------------------------------------------------------------------------- look-ahead
def test_shock_leaves_the_past_identical(market, shocked):
    symbols = market.listings["symbol"]
    pd.testing.assert_frame_equal(
        shocked.bars(symbols, EPOCH_START, SHOCK_DAY), market.bars(symbols, EPOCH_START, SHOCK_DAY)
    )
    pd.testing.assert_frame_equal(shocked.snapshot(SHOCK_DAY), market.snapshot(SHOCK_DAY))
    pd.testing.assert_frame_equal(shocked.defects(), market.defects())
    pd.testing.assert_series_equal(
        shocked.regimes().loc[: str(SHOCK_DAY)], market.regimes().loc[: str(SHOCK_DAY)]
    )


def test_shock_changes_the_future_without_a_jump(market, shocked):
    symbols = market.listings["symbol"]
    after = SHOCK_DAY + timedelta(days=1)
    mine, theirs = market.bars(symbols, after, EPOCH_END), shocked.bars(symbols, after, EPOCH_END)
    assert len(mine) == len(theirs)
    assert (mine["close"].to_numpy() != theirs["close"].to_numpy()).mean() > 0.99
    assert not shocked.snapshot(after + timedelta(days=30)).equals(
        market.snapshot(after + timedelta(days=30))
    )
    first = theirs.groupby("symbol").first()
    before = market.bars(symbols, EPOCH_START, SHOCK_DAY).groupby("symbol").last()
    joined = first.join(before.add_suffix("_before"), how="inner")
    assert np.abs(np.log(joined["open"] / joined["close_before"])).max() < 0.05


# ------------------------------------------------------------------------------------ scans
@pytest.fixture(scope="module")
def scanners():
    return load_profile("demo").scanners


@pytest.mark.parametrize("as_of", SCAN_DAYS, ids=[str(d) for d in SCAN_DAYS])
def test_shipped_scanners_find_listings(market, scanners, as_of):
    for scanner in scanners:
        query = build_scan_query(scanner)
        rows = market.scan(scanner, as_of)
        assert 0 < len(rows) <= query.limit, scanner.name
        assert list(rows.columns) == ["ticker", *query.columns]
        assert set(rows["exchange"]) <= set(scanner.universe.exchanges)
        assert set(rows["type"]) <= set(scanner.universe.types)
        assert rows[query.sort_by].is_monotonic_decreasing
        long = scanner.strategy.direction == "LONG"
        if scanner.strategy.logic == "trend":
            assert (rows["ADX"] >= 15).all()
            assert ((rows["Perf.3M"] > 0) if long else (rows["Perf.3M"] < 0)).all()
        elif scanner.strategy.logic == "mean_reversion":
            assert (rows["ADX"] < 20).all()
            assert ((rows["Perf.W"] < 0) if long else (rows["Perf.W"] > 0)).all()
        else:
            rating = rows["Recommend.All"]
            assert ((rating >= 0.3) if long else (rating <= -0.3)).all()


def test_scan_keeps_to_the_scanners_market(market, scanners):
    equity = next(s for s in scanners if s.name == "us_equity_trend")
    open_universe = equity.universe.model_copy(update={"exchanges": [], "types": []})
    rows = market.scan(equity.model_copy(update={"universe": open_universe}), date(2025, 10, 2))
    assert len(rows) > 0 and set(rows["type"]) <= {"stock", "fund"}


def with_gate(scanner, column):
    gates = [*scanner.strategy.gates, FilterRule(column=column, op=">", value=0)]
    return scanner.model_copy(
        update={"strategy": scanner.strategy.model_copy(update={"gates": gates})}
    )


@pytest.mark.parametrize(
    ("column", "error", "match"),
    [
        ("Recommend.All|240", SourceError, "column 'Recommend.All|240' is not available"),
        ("RSI7", ConfigError, "column 'RSI7' is not a field of market 'america'"),
    ],
    ids=["timeframe-suffix", "unknown-field"],
)
def test_scan_with_an_uncomputable_column_is_refused(market, scanners, column, error, match):
    """A field the market does not know is refused as the service would (HTTP 400); a known
    field on another timeframe is one the demo market does not compute."""
    with pytest.raises(error, match=re.escape(match)):
        market.scan(with_gate(scanners[0], column), date(2025, 10, 2))


@pytest.mark.parametrize(
    ("scanner", "column"),
    [("forex_majors_trend", "market_cap_basic"), ("futures_trend", "sector"),
     ("futures_trend", "base_currency")],
)  # fmt: skip
def test_fx_and_futures_scans_know_their_markets_fields_only(market, scanner, column):
    """sector, market_cap_basic (and base_currency for futures) are equity fields: the forex
    and futures markets refuse them (presets/markets), so the demo does too."""
    market_name = scanner.split("_")[0]
    with pytest.raises(ConfigError, match=f"column '{column}' is not a field of market "
                                          f"'{market_name}'"):  # fmt: skip
        market.scan(with_gate(load_scanner(scanner), column), date(2025, 10, 2))
