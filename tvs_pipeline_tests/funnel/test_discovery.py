"""Discovery: one scanner's rows renamed, cut and tagged; every scanner's rows in profile order."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.config import load_profile
from tvs_pipeline.errors import SourceError
from tvs_pipeline.funnel.discovery import discover, scan_one

AS_OF = date(2025, 6, 30)


class StubMarket:
    """A market source that answers every scan with fixed rows and records what it was asked."""

    def __init__(self, rows_by_scanner: dict[str, pd.DataFrame]) -> None:
        self.rows_by_scanner = rows_by_scanner
        self.asked: list[tuple[str, date]] = []

    def scan(self, scanner, as_of):
        self.asked.append((scanner.name, as_of))
        return self.rows_by_scanner[scanner.name].copy()

    def bars(self, symbols, start, end):  # pragma: no cover - discovery never reads bars
        raise AssertionError("discovery read bars")


@pytest.fixture(scope="module")
def scanners():
    return {s.name: s for s in load_profile("demo").scanners}


def crypto_rows() -> pd.DataFrame:
    """Seven crypto rows: a stablecoin, a fiat token, a tie on value traded (SOL listed before
    ETH, so only the ticker tie-break puts ETH first), a duplicate and a missing value."""
    return pd.DataFrame(
        {
            "ticker": [
                "OKX:SOLUSDT",
                "BINANCE:USDCUSDT",
                "BINANCE:BTCUSDT",
                "BINANCE:ETHUSDT",
                "BINANCE:EURUSDT",
                "BINANCE:ETHUSDT",
                "BYBIT:XRPUSDT",
            ],
            "name": ["SOLUSDT", "USDCUSDT", "BTCUSDT", "ETHUSDT", "EURUSDT", "ETHUSDT", "XRPUSDT"],
            "base_currency": ["SOL", "USDC", "BTC", "ETH", "EUR", "ETH", "XRP"],
            "close": [150.0, 1.0, 60000.0, 3000.0, 1.1, 3000.0, 0.5],
            "Value.Traded": [5e8, 9e9, 2e9, 5e8, 8e9, 5e8, np.nan],
            "ADX": [40.0, 5.0, 25.0, 30.0, 10.0, 30.0, 20.0],
        }
    )


def test_one_scanner_is_cut_sorted_ranked_and_tagged_by_hand(scanners):
    scanner = scanners["crypto_top50_trend"]  # excludes stable bases; Value.Traded desc
    rows = crypto_rows()
    before = rows.copy()
    out = scan_one(StubMarket({scanner.name: rows}), scanner, AS_OF)
    # USDC (stablecoin) and EUR (fiat) are dropped; BTC 2e9 first; ETH and SOL tie at 5e8 and
    # go by ticker; the duplicate ETH row is dropped; XRP without a value traded goes last.
    assert out["symbol"].tolist() == [
        "BINANCE:BTCUSDT",
        "BINANCE:ETHUSDT",
        "OKX:SOLUSDT",
        "BYBIT:XRPUSDT",
    ]
    assert out["rank"].tolist() == [1, 2, 3, 4]
    assert out["value_traded"].tolist()[:3] == [2e9, 5e8, 5e8]
    assert out["adx"].tolist() == [25.0, 30.0, 40.0, 20.0]
    assert (out["sleeve"] == "crypto").all() and (out["scanner"] == scanner.name).all()
    assert (out["direction"] == "LONG").all() and (out["logic"] == "trend").all()
    assert (out["asset_class"] == "crypto").all() and (out["calendar"] == "24/7").all()
    assert (out["sessions_per_year"] == 365).all()
    pd.testing.assert_frame_equal(rows, before)


def test_columns_the_source_did_not_send_are_empty_and_text_is_str(scanners):
    scanner = scanners["crypto_top50_trend"]
    out = scan_one(StubMarket({scanner.name: crypto_rows()}), scanner, AS_OF)
    assert out["atr"].isna().all() and out["perf_3m"].isna().all()  # not in the rows
    assert out["name"].tolist()[0] == "BTCUSDT"
    assert out["sector"].dtype == "str"


def test_the_limit_keeps_the_best_rows(scanners):
    scanner = scanners["crypto_top50_trend"].model_copy(update={"limit": 2})
    out = scan_one(StubMarket({scanner.name: crypto_rows()}), scanner, AS_OF)
    assert out["symbol"].tolist() == ["BINANCE:BTCUSDT", "BINANCE:ETHUSDT"]


def test_ascending_sort_and_no_stable_rule(scanners):
    scanner = scanners["us_equity_trend"].model_copy(update={"sort_by": "ADX", "sort_order": "asc"})
    out = scan_one(StubMarket({scanner.name: crypto_rows()}), scanner, AS_OF)
    # equity template keeps stable bases; ADX ascending: USDC 5, EUR 10, XRP 20, BTC 25, ETH 30
    assert out["symbol"].tolist() == [
        "BINANCE:USDCUSDT",
        "BINANCE:EURUSDT",
        "BYBIT:XRPUSDT",
        "BINANCE:BTCUSDT",
        "BINANCE:ETHUSDT",
        "OKX:SOLUSDT",
    ]
    assert (out["calendar"] == "XNYS").all() and (out["sessions_per_year"] == 252).all()


def test_a_scan_without_tickers_is_a_source_error(scanners):
    scanner = scanners["etf_trend"]
    rows = crypto_rows().drop(columns="ticker")
    with pytest.raises(SourceError, match="scanner etf_trend: scan result has no 'ticker' column"):
        scan_one(StubMarket({scanner.name: rows}), scanner, AS_OF)


def test_discover_concatenates_scanners_in_profile_order(scanners):
    chosen = [scanners["etf_trend"], scanners["crypto_top50_trend_short"]]
    etf = pd.DataFrame({"ticker": ["AMEX:SPY", "AMEX:GLD"], "Value.Traded": [1e9, 2e9]})
    market = StubMarket({"etf_trend": etf, "crypto_top50_trend_short": crypto_rows()})
    found = discover(market, chosen, AS_OF)
    assert market.asked == [("etf_trend", AS_OF), ("crypto_top50_trend_short", AS_OF)]
    assert found["scanner"].tolist() == ["etf_trend"] * 2 + ["crypto_top50_trend_short"] * 4
    assert found["symbol"].tolist()[:2] == ["AMEX:GLD", "AMEX:SPY"]
    assert found["rank"].tolist() == [1, 2, 1, 2, 3, 4]  # ranks restart per scanner
    assert found.loc[found["scanner"] != "etf_trend", "direction"].eq("SHORT").all()
    assert found.index.equals(pd.RangeIndex(6))


def test_no_scanners_is_an_empty_frame_with_the_discovery_columns(scanners):
    one = discover(StubMarket({"etf_trend": crypto_rows()}), [scanners["etf_trend"]], AS_OF)
    none = discover(StubMarket({}), [], AS_OF)
    assert none.empty and list(none.columns) == list(one.columns)
    assert {"symbol", "value_traded", "sleeve", "rank"} <= set(none.columns)
