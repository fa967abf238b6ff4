"""Every defect planted in the demo market ends with the right health status."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.config.schema import HealthConfig
from tvs_pipeline.funnel.health import classify_health
from tvs_pipeline.funnel.history import validate_bars
from tvs_pipeline.market.demo import DemoMarket

LOOKBACK, FLOOR = 500, 90


@pytest.fixture(scope="module")
def market():
    return DemoMarket(seed=7)


def expected_status(defects: pd.DataFrame, symbol: str, as_of: pd.Timestamp) -> str:
    start = as_of - pd.Timedelta(days=LOOKBACK - 1)
    rows = defects[
        (defects["symbol"] == symbol) & (defects["end"] >= start) & (defects["start"] <= as_of)
    ]
    kinds = set(rows["defect"])
    if kinds & {"spike", "frozen"}:
        return "TOXIC"
    halted_now = rows[(rows["defect"] == "stale") & (rows["end"] >= as_of)]
    if len(halted_now) and (as_of - halted_now["start"].min()).days > 5:
        return "STALE"
    if kinds & {"gap_multi", "stale"}:
        return "GAPS"
    if "young" in kinds:
        return "SHORT_HISTORY"
    return "OK"


@pytest.mark.parametrize("as_of", ["2024-12-31", "2025-06-30", "2026-02-14", "2026-11-23"])
def test_planted_defects_get_their_status(market, as_of):
    day = pd.Timestamp(as_of)
    defects = market.defects()
    young_now = defects[
        (defects["defect"] == "young") & (defects["start"] <= day) & (defects["end"] >= day)
    ]
    hosts = sorted(
        set(defects.loc[defects["defect"] != "young", "symbol"]) | set(young_now["symbol"])
    )
    listings = market.listings.set_index("symbol").loc[hosts].reset_index()
    listings = listings.assign(sleeve=listings["asset_class"])[
        ["symbol", "sleeve", "asset_class", "calendar"]
    ]
    bars = validate_bars(
        market.bars(hosts, (day - pd.Timedelta(days=LOOKBACK - 1)).date(), day.date())
    )
    table = classify_health(bars, listings, day.date(), LOOKBACK, FLOOR, HealthConfig()).set_index(
        "symbol"
    )
    seen = set()
    for symbol in hosts:
        want = expected_status(defects, symbol, day)
        assert table.loc[symbol, "status"] == want, (symbol, table.loc[symbol, "reason"])
        seen.add(want)
    assert seen >= {"TOXIC", "STALE", "GAPS", "SHORT_HISTORY", "OK"}
    gap_1 = defects[
        (defects["defect"] == "gap_1")
        & defects["start"].between(day - pd.Timedelta(days=LOOKBACK - 1), day)
    ]
    for symbol in gap_1["symbol"]:
        assert table.loc[symbol, "status"] == "OK" and table.loc[symbol, "missing_sessions"] == 1


def test_a_symbol_the_source_does_not_know_is_missing(market):
    listings = pd.DataFrame(
        {
            "symbol": ["BINANCE:NOSUCHUSDT"],
            "sleeve": "c",
            "asset_class": "crypto",
            "calendar": "24/7",
        }
    )
    bars = validate_bars(market.bars(["BINANCE:NOSUCHUSDT"], date(2025, 1, 1), date(2025, 6, 30)))
    table = classify_health(bars, listings, date(2025, 6, 30), LOOKBACK, FLOOR, HealthConfig())
    assert table.loc[0, "status"] == "MISSING"


@pytest.mark.parametrize(
    "as_of",
    ["2025-04-20", "2025-12-28", "2026-01-05"],
    ids=["easter-sunday", "sunday-after-christmas", "monday"],
)
def test_fx_and_futures_are_judged_on_their_own_calendars(market, as_of):
    """Issue 17: the FX pairs (24/5) and continuous futures (CMES) carry no planted defect, so
    each is OK on its own calendar, dated by the +4 h rule from its open instants: no session
    missing (a weekend, Good Friday or Christmas is no session of CMES) and fresh on a Sunday
    (the last FX bar is Friday's: 2 days, under FX's 4)."""
    day = pd.Timestamp(as_of)
    listings = market.listings
    listings = listings.loc[listings["asset_class"].isin(["forex", "futures"])]
    listings = listings.assign(sleeve=listings["asset_class"])[
        ["symbol", "sleeve", "asset_class", "calendar"]
    ]
    raw = market.bars(
        listings["symbol"], (day - pd.Timedelta(days=LOOKBACK - 1)).date(), day.date()
    )
    classes = dict(zip(listings["symbol"], listings["asset_class"], strict=True))
    bars = validate_bars(raw.drop(columns="date"), asset_classes=classes)  # dated from time only
    table = classify_health(bars, listings, day.date(), LOOKBACK, FLOOR, HealthConfig())
    assert len(table) == 20 and (table["status"] == "OK").all(), table.loc[table["status"] != "OK"]
    assert (table["missing_sessions"] == 0).all()
    assert not bars["market_date"].dt.day_of_week.isin([5, 6]).any()
    # 24/5 is every weekday of the window (numpy's business-day count); CMES fewer (holidays)
    counts = bars.groupby(bars["symbol"].map(classes)).size() / 10
    start = (day - pd.Timedelta(days=LOOKBACK - 1)).date()
    weekdays = np.busday_count(start, (day + pd.Timedelta(days=1)).date())
    assert counts["forex"] == weekdays and weekdays - 12 < counts["futures"] < weekdays
