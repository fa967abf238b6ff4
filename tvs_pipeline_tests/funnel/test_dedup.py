"""Tests for tvs_pipeline.funnel.dedup: one primary listing per identity, logic and direction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.funnel.dedup import (
    ADDED_COLUMNS,
    CANDIDATE_COLUMNS,
    dedup_day,
    dedup_listings,
    dedup_summary,
)

NAN = np.nan


def frame(rows: list[tuple]) -> pd.DataFrame:
    """Candidates from (symbol, logic, direction, asset_class, value_traded_usd) tuples."""
    out = pd.DataFrame(
        rows, columns=["symbol", "logic", "direction", "asset_class", "value_traded_usd"]
    )
    return out.astype({"value_traded_usd": float})


def btc_venues() -> pd.DataFrame:
    candidates = frame(
        [
            ("BINANCE:BTCUSDT", "trend", "LONG", "crypto", 1.0e9),
            ("BYBIT:BTCUSDT.P", "trend", "LONG", "crypto", 2.0e9),
            ("OKX:BTC-USDT-SWAP", "trend", "LONG", "crypto", 5.0e8),
            ("BINANCE:BTCFDUSD", "trend", "LONG", "crypto", NAN),
            ("BINANCE:ETHUSDT", "trend", "LONG", "crypto", 7.0e8),
        ]
    )
    # per-venue liquidity in the quote currency, and a field that must ride along untouched
    return candidates.assign(
        value_traded=[1.0e9, 2.0e9, 5.0e8, 3.0e8, 7.0e8], close=[1.0, 2.0, 3.0, 4.0, 5.0]
    )


def row(out: pd.DataFrame, identity: str, logic: str = "trend", direction: str = "LONG"):
    hit = out[
        (out["identity"] == identity) & (out["logic"] == logic) & (out["direction"] == direction)
    ]
    assert len(hit) == 1
    return hit.iloc[0]


def test_most_liquid_listing_is_primary():
    out = dedup_listings(btc_venues())
    btc = row(out, "BTC")
    assert btc["symbol"] == "BYBIT:BTCUSDT.P"
    assert btc["n_listings"] == 4
    assert len(out) == 2


def test_alternates_most_liquid_first_and_nan_last():
    btc = row(dedup_listings(btc_venues()), "BTC")
    assert btc["alternates"] == ["BINANCE:BTCUSDT", "OKX:BTC-USDT-SWAP", "BINANCE:BTCFDUSD"]


def test_single_listing_has_empty_alternates():
    eth = row(dedup_listings(btc_venues()), "ETH")
    assert eth["alternates"] == []
    assert isinstance(eth["alternates"], list)
    assert eth["n_listings"] == 1


def test_nan_liquidity_loses_to_any_number():
    candidates = frame(
        [
            ("BINANCE:SOLUSDT", "trend", "LONG", "crypto", NAN),
            ("BYBIT:SOLUSDT.P", "trend", "LONG", "crypto", 1.0),
        ]
    )
    sol = row(dedup_listings(candidates), "SOL")
    assert sol["symbol"] == "BYBIT:SOLUSDT.P"
    assert sol["alternates"] == ["BINANCE:SOLUSDT"]


def test_zero_liquidity_beats_nan():
    candidates = frame(
        [
            ("BINANCE:SOLUSDT", "trend", "LONG", "crypto", NAN),
            ("BYBIT:SOLUSDT.P", "trend", "LONG", "crypto", 0.0),
        ]
    )
    assert row(dedup_listings(candidates), "SOL")["symbol"] == "BYBIT:SOLUSDT.P"


@pytest.mark.parametrize("value", [5.0, NAN], ids=["equal-values", "all-nan"])
def test_ties_go_to_the_smallest_symbol(value):
    candidates = frame(
        [
            ("OKX:SOL-USDT-SWAP", "trend", "LONG", "crypto", value),
            ("BINANCE:SOLUSDT.P", "trend", "LONG", "crypto", value),
            ("BYBIT:SOLUSDT.P", "trend", "LONG", "crypto", value),
        ]
    )
    sol = row(dedup_listings(candidates), "SOL")
    assert sol["symbol"] == "BINANCE:SOLUSDT.P"
    assert sol["alternates"] == ["BYBIT:SOLUSDT.P", "OKX:SOL-USDT-SWAP"]


def test_result_does_not_depend_on_row_order():
    candidates = btc_venues()
    shuffled = candidates.sample(frac=1.0, random_state=3).set_index(pd.Index([9, 7, 5, 3, 1]))
    pd.testing.assert_frame_equal(dedup_listings(shuffled), dedup_listings(candidates))


def test_liquidity_columns_are_the_primarys_own():
    candidates = btc_venues()
    btc = row(dedup_listings(candidates), "BTC")
    assert btc["value_traded_usd"] == 2.0e9
    assert btc["value_traded"] == 2.0e9
    assert btc["close"] == 2.0


def test_primary_rows_equal_their_input_rows():
    candidates = btc_venues()
    out = dedup_listings(candidates)
    kept = out.drop(columns=list(ADDED_COLUMNS))
    expected = candidates.set_index("symbol").loc[out["symbol"]].reset_index()
    pd.testing.assert_frame_equal(kept, expected[candidates.columns])


def test_input_is_unchanged():
    candidates = btc_venues().set_index(pd.Index(list("abcde")))
    before = candidates.copy()
    dedup_listings(candidates)
    pd.testing.assert_frame_equal(candidates, before)


def test_same_identity_survives_once_per_logic_and_direction():
    candidates = frame(
        [
            ("BINANCE:BTCUSDT", "trend", "LONG", "crypto", 1.0e9),
            ("BYBIT:BTCUSDT.P", "trend", "LONG", "crypto", 2.0e9),
            ("BINANCE:BTCUSDT", "trend", "SHORT", "crypto", 1.0e9),
            ("BYBIT:BTCUSDT.P", "trend", "SHORT", "crypto", 2.0e9),
            ("BINANCE:BTCUSDT", "mean_reversion", "LONG", "crypto", 1.0e9),
        ]
    )
    out = dedup_listings(candidates)
    assert list(zip(out["identity"], out["logic"], out["direction"], strict=True)) == [
        ("BTC", "mean_reversion", "LONG"),
        ("BTC", "trend", "LONG"),
        ("BTC", "trend", "SHORT"),
    ]
    assert out["symbol"].tolist() == ["BINANCE:BTCUSDT", "BYBIT:BTCUSDT.P", "BYBIT:BTCUSDT.P"]
    assert out["n_listings"].tolist() == [1, 2, 2]


def test_output_sorted_with_a_range_index():
    candidates = frame(
        [
            ("BINANCE:SOLUSDT", "trend", "SHORT", "crypto", 1.0),
            ("BINANCE:ADAUSDT", "trend", "LONG", "crypto", 1.0),
            ("BINANCE:SOLUSDT", "breakout", "LONG", "crypto", 1.0),
            ("BINANCE:ETHUSDT", "trend", "LONG", "crypto", 1.0),
        ]
    ).set_index(pd.Index([40, 30, 20, 10]))
    out = dedup_listings(candidates)
    assert list(zip(out["identity"], out["logic"], out["direction"], strict=True)) == [
        ("ADA", "trend", "LONG"),
        ("ETH", "trend", "LONG"),
        ("SOL", "breakout", "LONG"),
        ("SOL", "trend", "SHORT"),
    ]
    pd.testing.assert_index_equal(out.index, pd.RangeIndex(4))


def test_multiplier_is_the_primarys():
    candidates = frame(
        [
            ("BINANCE:1000PEPEUSDT.P", "trend", "LONG", "crypto", 9.0e8),
            ("BINANCE:PEPEUSDT", "trend", "LONG", "crypto", 4.0e8),
            ("BYBIT:1000000MOGUSDT.P", "trend", "LONG", "crypto", 1.0e6),
        ]
    )
    out = dedup_listings(candidates)
    pepe = row(out, "PEPE")
    assert pepe["multiplier"] == 1000
    assert pepe["alternates"] == ["BINANCE:PEPEUSDT"]
    assert row(out, "MOG")["multiplier"] == 1_000_000


def test_added_columns_and_dtypes():
    out = dedup_listings(btc_venues())
    assert list(out.columns) == [*btc_venues().columns, *ADDED_COLUMNS]
    assert out["identity"].dtype == "str"
    assert out["multiplier"].dtype == np.int64
    assert out["n_listings"].dtype == np.int64
    assert out["alternates"].dtype == object


def test_equity_and_crypto_namesakes_are_not_merged():
    # NASDAQ:LINK is Interlink Electronics, BINANCE:LINKUSDT is Chainlink.
    candidates = frame(
        [
            ("NASDAQ:LINK", "trend", "LONG", "equity", 1.0e6),
            ("BINANCE:LINKUSDT", "trend", "LONG", "crypto", 3.0e8),
        ]
    )
    out = dedup_listings(candidates)
    assert sorted(out["symbol"]) == ["BINANCE:LINKUSDT", "NASDAQ:LINK"]
    assert out["n_listings"].tolist() == [1, 1]


def test_equity_and_etf_share_a_namespace():
    candidates = frame(
        [
            ("AMEX:SPY", "trend", "LONG", "etf", 3.0e10),
            ("NYSEARCA:SPY", "trend", "LONG", "equity", 1.0e9),
        ]
    )
    out = dedup_listings(candidates)
    assert out["symbol"].tolist() == ["AMEX:SPY"]
    assert out["alternates"].tolist() == [["NYSEARCA:SPY"]]


def test_missing_asset_class_is_inferred():
    candidates = frame(
        [
            ("BINANCE:BNBUSD.P", "trend", "LONG", None, 1.0e8),
            ("BINANCE:BNBUSDT.P", "trend", "LONG", NAN, 5.0e8),
            ("FX:EURUSD", "trend", "LONG", None, 1.0e9),
        ]
    )
    out = dedup_listings(candidates)
    assert out["identity"].tolist() == ["BNB", "EURUSD"]
    assert row(out, "BNB")["alternates"] == ["BINANCE:BNBUSD.P"]


def test_empty_candidates_give_an_empty_frame_with_added_columns():
    out = dedup_listings(btc_venues().iloc[0:0])
    assert out.empty
    assert list(out.columns) == [*btc_venues().columns, *ADDED_COLUMNS]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda c: c.drop(columns=["value_traded_usd"]), "missing columns"),
        (lambda c: c.drop(columns=["asset_class", "logic"]), "missing columns"),
        (lambda c: c.assign(identity="X"), "already exist"),
        (lambda c: c.assign(alternates=None), "already exist"),
        (lambda c: pd.concat([c, c.iloc[[0]]]), "appears more than once"),
        (lambda c: c.assign(logic=[None, "trend", "trend", "trend", "trend"]), "logic missing"),
        (lambda c: c.assign(symbol=["A", None, "B", "C", "D"]), "symbol missing"),
        (lambda c: c.assign(value_traded_usd=["1"] * 5), "expected a number"),
        (lambda c: c.assign(value_traded_usd=[True] * 5), "expected a number"),
        (lambda c: c.assign(value_traded_usd=[1.0, -1.0, 1.0, 1.0, 1.0]), "non-negative"),
        (lambda c: c.assign(value_traded_usd=[1.0, np.inf, 1.0, 1.0, 1.0]), "non-negative"),
        (lambda c: c.assign(symbol=["BINANCE:", "B", "C", "D", "E"]), "no ticker"),
        (lambda c: c.assign(asset_class="bond"), "unknown"),
    ],
    ids=[
        "no-value-column",
        "no-class-and-logic",
        "identity-taken",
        "alternates-taken",
        "duplicate-key",
        "null-logic",
        "null-symbol",
        "string-values",
        "bool-values",
        "negative-value",
        "infinite-value",
        "bad-symbol",
        "bad-class",
    ],
)
def test_invalid_candidates_raise(change, match):
    with pytest.raises(DataError, match=match):
        dedup_listings(change(btc_venues()))


def test_same_symbol_in_two_directions_is_not_a_duplicate():
    candidates = frame(
        [
            ("BINANCE:BTCUSDT", "trend", "LONG", "crypto", 1.0),
            ("BINANCE:BTCUSDT", "trend", "SHORT", "crypto", 1.0),
        ]
    )
    assert len(dedup_listings(candidates)) == 2


def test_summary_counts():
    candidates = pd.concat(
        [btc_venues(), btc_venues().assign(direction="SHORT")], ignore_index=True
    )
    out = dedup_listings(candidates)
    assert dedup_summary(candidates, out) == {
        "listings": 10,
        "primaries": 4,
        "unique_identities": 2,
        "merged": 6,
    }
    assert all(type(v) is int for v in dedup_summary(candidates, out).values())


def test_summary_of_empty():
    empty = btc_venues().iloc[0:0]
    assert dedup_summary(empty, dedup_listings(empty)) == {
        "listings": 0,
        "primaries": 0,
        "unique_identities": 0,
        "merged": 0,
    }


def test_summary_rejects_a_foreign_result():
    candidates = btc_venues()
    with pytest.raises(DataError, match="missing columns"):
        dedup_summary(candidates, candidates)
    with pytest.raises(DataError, match="groups hold 5 listings, the candidates have 4"):
        dedup_summary(candidates.iloc[:4], dedup_listings(candidates))


def test_dedup_day_takes_the_ok_listings_once_per_logic_and_direction():
    """Two scanners of one logic list BTC twice: one candidate; a STALE listing is left out."""
    discovery = pd.DataFrame(
        {
            "symbol": ["BINANCE:BTCUSDT", "BINANCE:BTCUSDT", "BYBIT:BTCUSDT.P", "BINANCE:ETHUSDT"],
            "sleeve": "crypto",
            "scanner": ["top50", "top50_alt", "top50", "top50"],
            "logic": "trend",
            "direction": "LONG",
            "asset_class": "crypto",
            "calendar": "24/7",
            "sessions_per_year": 365,
            "close": 1.0,  # a scanner field dedup does not keep
        }
    )
    enrichment = pd.DataFrame(
        {
            "symbol": ["BINANCE:BTCUSDT", "BYBIT:BTCUSDT.P", "BINANCE:ETHUSDT"],
            "status": ["OK", "OK", "STALE"],
            "adv_usd_20": [1.0e9, 2.0e9, 7.0e8],
            "adx_14": [30.0, 25.0, 20.0],
            "vol_ann": [0.5, 0.6, 0.7],
            "sector": "crypto",
        }
    )
    before = discovery.copy(), enrichment.copy()
    out = dedup_day(discovery, enrichment)
    assert out["symbol"].tolist() == ["BYBIT:BTCUSDT.P"]  # the more liquid venue of BTC
    assert out.loc[0, "alternates"] == ["BINANCE:BTCUSDT"] and out.loc[0, "n_listings"] == 2
    assert out.loc[0, "value_traded_usd"] == out.loc[0, "adv_usd_20"] == 2.0e9
    assert list(out.columns[: len(CANDIDATE_COLUMNS)]) == list(CANDIDATE_COLUMNS)
    assert "close" not in out.columns and "status" not in out.columns
    pd.testing.assert_frame_equal(discovery, before[0])
    pd.testing.assert_frame_equal(enrichment, before[1])


@pytest.mark.parametrize("order", [[0, 1], [1, 0]], ids=["60-first", "20-first"])
def test_dedup_day_keeps_the_shortest_horizon_whatever_the_scanner_order(order):
    """Two trend scanners at 60 and 20 sessions both list BTC: the candidate is the 20-session
    scanner's row (synthesis makes one atom at the shortest horizon, methodology §9), in
    either order of the scanners."""
    discovery = pd.DataFrame(
        {
            "symbol": "BINANCE:BTCUSDT",
            "sleeve": "crypto",
            "scanner": ["trend_slow", "trend_fast"],
            "logic": "trend",
            "direction": "LONG",
            "timescale": [60, 20],
            "asset_class": "crypto",
            "calendar": "24/7",
            "sessions_per_year": 365,
        }
    ).iloc[order]
    enrichment = pd.DataFrame(
        {"symbol": ["BINANCE:BTCUSDT"], "status": ["OK"], "adv_usd_20": [1e9], "adx_14": [30.0],
         "vol_ann": [0.5], "sector": ["crypto"]}
    )  # fmt: skip
    out = dedup_day(discovery, enrichment)
    assert out[["scanner", "timescale"]].values.tolist() == [["trend_fast", 20]]


def test_dedup_day_names_a_missing_discovery_column():
    # An older partition lacks only `timescale` (read as the logic's); any other is an error.
    discovery = pd.DataFrame({"symbol": ["BINANCE:BTCUSDT"], "sleeve": "crypto"})
    enrichment = pd.DataFrame(
        {"symbol": ["BINANCE:BTCUSDT"], "status": ["OK"], "adv_usd_20": [1e9], "adx_14": [30.0],
         "vol_ann": [0.5], "sector": ["crypto"]}
    )  # fmt: skip
    with pytest.raises(DataError, match=r"dedup: discovery lacks \['scanner', 'logic'"):
        dedup_day(discovery, enrichment)
