"""Point-in-time enrichment on the demo market's real scan and bars."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.config import load_profile
from tvs_pipeline.funnel.discovery import discover
from tvs_pipeline.funnel.enrichment import ADV_DAYS, VOL_DAYS, enrich, usd_per_quote
from tvs_pipeline.funnel.health import classify_health
from tvs_pipeline.funnel.history import validate_bars
from tvs_pipeline.market.demo import DemoMarket

DAY = date(2025, 9, 15)


@pytest.fixture(scope="module")
def day_inputs():
    profile = load_profile("demo")
    market = DemoMarket(seed=7)
    found = discover(market, profile.scanners, DAY)
    symbols = found["symbol"].unique().tolist()
    bars = validate_bars(market.bars(symbols, DAY - timedelta(days=499), DAY))
    listings = found.drop_duplicates("symbol")[["symbol", "sleeve", "asset_class", "calendar"]]
    health = classify_health(bars, listings, DAY, 500, 90, profile.health)
    return found, health, bars


def _reference(bars: pd.DataFrame, symbol: str) -> tuple[float, float]:
    """The definitions read literally: one symbol's own bars, dropped NaN, tail, mean / std."""
    own = bars.loc[bars["symbol"] == symbol].sort_values("market_date")
    traded = (own["close"] * own["volume"]).dropna().tail(ADV_DAYS).mean()
    closes = own["close"].dropna()
    vol = closes.pct_change(fill_method=None).tail(VOL_DAYS).std(ddof=1)
    return float(traded), float(vol)


def test_adv_and_vol_follow_their_definitions_per_symbol(day_inputs):
    found, health, bars = day_inputs
    # A few holes, so the tails must skip missing values as the definitions say.
    holed = bars.copy()
    holed.loc[holed.index[::37], "volume"] = np.nan
    holed.loc[holed.index[::53], "close"] = np.nan
    table = enrich(found, health, holed, DAY).set_index("symbol")
    rates = usd_per_quote(table["currency"])
    periods = table["sessions_per_year"].astype("float64")
    checked = 0
    for symbol in table.index[table["history_len"] > VOL_DAYS]:
        traded, vol = _reference(holed, symbol)
        assert table.at[symbol, "adv_usd_20"] == pytest.approx(
            traded * rates[symbol], rel=1e-12, nan_ok=True
        )
        assert table.at[symbol, "vol_ann"] == pytest.approx(
            vol * np.sqrt(periods[symbol]), rel=1e-12
        )
        checked += 1
    assert checked > 50


def test_enrichment_uses_nothing_after_the_day(day_inputs):
    found, health, bars = day_inputs
    later = bars.assign(market_date=bars["market_date"] + pd.Timedelta(days=1))
    with pytest.raises(Exception, match="after"):
        enrich(found, health, later, DAY)
