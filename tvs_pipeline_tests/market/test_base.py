"""The market source interface and the closed registry (tvs_pipeline/market/base.py)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.market.base import BAR_COLUMNS, MarketSource, make_source
from tvs_pipeline.market.demo import DemoMarket
from tvs_pipeline.market.tradingview import TradingViewSource
from tvs_pipeline.settings import TradingViewSettings


def test_the_registry_builds_the_demo_market_with_its_options():
    market = make_source("demo", seed=3, scale=100, shock_after=date(2025, 3, 1))
    assert isinstance(market, DemoMarket) and isinstance(market, MarketSource)
    assert (market.seed, market.scale, market.shock_after) == (3, 100, date(2025, 3, 1))
    default = make_source("demo")
    assert (default.seed, default.scale, default.shock_after) == (7, 300, None)


def test_the_registry_builds_the_live_source():
    assert isinstance(make_source("tradingview"), TradingViewSource)
    assert isinstance(make_source("tradingview"), MarketSource)
    assert make_source("tradingview").settings == TradingViewSettings()
    settings = TradingViewSettings(scanner_url="http://127.0.0.1:1")
    assert make_source("tradingview", tradingview=settings).settings is settings


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("yahoo", {}, r"source 'yahoo': unknown market source \(known: demo, tradingview\)"),
        ("Demo", {}, "source 'Demo': unknown"),
        ("tradingview", {"shock_after": date(2025, 1, 1)}, "shock_after is a demo-market option"),
    ],
    ids=["unknown", "case-matters", "shock-on-live"],
)
def test_bad_sources_are_config_errors(name, options, message):
    with pytest.raises(ConfigError, match=message):
        make_source(name, **options)


def test_the_protocol_needs_both_scan_and_bars():
    class ScanOnly:
        def scan(self, scanner, as_of):
            return pd.DataFrame()

    class Both(ScanOnly):
        def bars(self, symbols, start, end):
            return pd.DataFrame()

    assert not isinstance(ScanOnly(), MarketSource)
    assert isinstance(Both(), MarketSource)


def test_the_demo_market_returns_the_bar_columns():
    assert list(BAR_COLUMNS) == ["symbol", "date", "open", "high", "low", "close", "volume"]
    bars = make_source("demo", scale=100).bars(
        ["BINANCE:BTCUSDT"], date(2025, 1, 1), date(2025, 1, 3)
    )
    # crypto trades every day; the demo also stamps each bar's open instant, as TradingView does
    assert list(bars.columns) == [*BAR_COLUMNS, "time"] and len(bars) == 3
