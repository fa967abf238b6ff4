"""Tests for tvs_pipeline.funnel.identity: the hard listing-identity cases, table-driven."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tvs_pipeline.errors import DataError
from tvs_pipeline.funnel.identity import (
    CASH_QUOTES,
    COMPOUND_QUOTES,
    CRYPTO_QUOTES,
    STABLECOINS,
    TICKER_ALIASES,
    ListingParts,
    canonical_identity,
    identities,
    is_stable_base,
    parse_listing,
)

# (symbol, asset_class, expected identity, id)
IDENTITY_CASES = [
    # one asset across venues, spot and perpetual
    ("BINANCE:BTCUSDT", None, "BTC", "binance-spot"),
    ("BINANCE:BTCUSDT.P", None, "BTC", "binance-perp"),
    ("BYBIT:BTCUSDT.P", None, "BTC", "bybit-perp"),
    ("OKX:BTC-USDT-SWAP", None, "BTC", "okx-swap-dashed"),
    ("OKX:BTCUSDT", None, "BTC", "okx-spot"),
    ("OKX:BTC-USDT", None, "BTC", "okx-spot-dashed"),
    ("OKX:BTC-USD-SWAP", None, "BTC", "okx-inverse-swap"),
    ("BYBIT:BTCUSD.P", None, "BTC", "bybit-inverse-perp"),
    ("BINANCE:BTCUSD_PERP", None, "BTC", "binance-underscore-perp"),
    ("BINANCE:BTCUSDT.F", None, "BTC", "dot-f-suffix"),
    ("OKX:BTC-USDT-SPOT", None, "BTC", "spot-suffix"),
    ("BITGET:SOLUSDT.P", None, "SOL", "bitget-perp"),
    ("BTCUSDT", None, "BTC", "no-exchange"),
    # quotes by longest match, never the greedy-regex FD/T/B leftovers
    ("BINANCE:BTCFDUSD", None, "BTC", "fdusd-not-btcfd"),
    ("BINANCE:BTCUSDC", None, "BTC", "usdc"),
    ("BINANCE:ETHTUSD", None, "ETH", "tusd-not-etht"),
    ("ETHTUSD", None, "ETH", "tusd-no-exchange"),
    ("BINANCE:BTCBUSD", None, "BTC", "busd-not-btcb"),
    ("BINANCE:BTCAEUR", None, "BTC", "aeur-not-btca"),
    ("BINANCE:BTCBIDR", None, "BTC", "bidr"),
    ("BINANCE:BTCTRY", None, "BTC", "fiat-try"),
    ("BINANCE:SOLBRL", None, "SOL", "fiat-brl"),
    ("BINANCE:ADAEUR", None, "ADA", "eur-not-ad-aeur"),
    ("KRAKEN:ADAEUR", None, "ADA", "kraken-eur"),
    # compound quote guard: a base ending in T/B quoted in plain USD
    ("BINANCE:BNBUSD.P", None, "BNB", "bnbusd-perp-not-bn-busd"),
    ("BINANCE:BNBUSDT.P", None, "BNB", "bnbusdt-perp"),
    ("BINANCE:BNBUSD", None, "BNB", "bnbusd-not-6-letter-pair"),
    ("BINANCE:DOTUSD.P", None, "DOT", "dotusd-not-do-tusd"),
    ("BINANCE:ARBUSD.P", None, "ARB", "arbusd-perp"),
    ("COINBASE:SHIBUSD", None, "SHIB", "fiat-native-venue"),
    ("KRAKEN:USDTUSD", None, "USDT", "usdt-usd-kraken"),
    ("USDTUSD", None, "USDT", "usdt-usd-not-usd-tusd"),
    # multipliers
    ("BINANCE:1000PEPEUSDT.P", None, "PEPE", "multiplier-1000-binance"),
    ("BYBIT:1000PEPEUSDT.P", None, "PEPE", "multiplier-1000-bybit"),
    ("BINANCE:PEPEUSDT", None, "PEPE", "pepe-spot"),
    ("BINANCE:1000SATSUSDT", None, "SATS", "multiplier-on-spot"),
    ("BYBIT:1000000MOGUSDT.P", None, "MOG", "multiplier-1e6"),
    ("BYBIT:10000LADYSUSDT.P", None, "LADYS", "multiplier-1e4"),
    ("BINANCE:1MBABYDOGEUSDT", None, "BABYDOGE", "multiplier-1m"),
    ("BINANCE:1INCHUSDT", None, "1INCH", "leading-1-is-a-name"),
    ("OKX:1000PEPE-USDT-SWAP", None, "PEPE", "multiplier-dashed"),
    # no futures-root prefix rule for crypto
    ("BINANCE:PAXGUSDT", None, "PAXG", "paxg-not-pa"),
    ("BINANCE:PLUMEUSDT", None, "PLUME", "plume-not-pl"),
    ("BINANCE:PARTIUSDT", None, "PARTI", "parti-not-pa"),
    ("BINANCE:GCUSDT", None, "GC", "gc-crypto"),
    ("BINANCE:ZRXUSDT", None, "ZRX", "zrx-no-month-code"),
    ("BINANCE:ZECUSDT", None, "ZEC", "zec-no-month-code"),
    ("BINANCE:ESUSDT", "crypto", "ES", "es-crypto"),
    # dated crypto futures
    ("BINANCE:BTCUSDT27MAR2026", None, "BTC", "dated-dmy-4"),
    ("DERIBIT:BTC-27MAR26", None, "BTC", "dated-dmy-2-dashed"),
    ("OKX:BTC-USD-250627", None, "BTC", "dated-yymmdd"),
    ("BINANCE:BTCUSD_250627", None, "BTC", "dated-yymmdd-underscore"),
    ("BINANCE:BTCUSDTH2026", None, "BTC", "dated-quote-month-code"),
    # futures class: exact roots
    ("CME:ESZ2025", "futures", "ES", "es-z2025"),
    ("CME:ESZ2025", None, "ES", "es-z2025-venue-inferred"),
    ("CME:ESZ25", "futures", "ES", "es-z25"),
    ("CME_MINI:ESH6", None, "ES", "es-h6"),
    ("CBOT:ZNH26", None, "ZN", "zn-root-ends-in-month-letter"),
    ("CME:6EZ2025", None, "6E", "numeric-root"),
    ("CME_MINI:M2KZ2025", None, "M2K", "root-with-digit"),
    ("CME:ES", "futures", "ES", "bare-root"),
    ("COMEX:GC1!", None, "GC", "continuous-gc"),
    ("NYMEX:CL2!", None, "CL", "continuous-second"),
    ("SOMEWHERE:GC1!", None, "GC", "continuous-infers-futures"),
    ("CBOE:VX1!", None, "VX", "continuous-beats-equity-venue"),
    # forex pairs stay pairs
    ("FX:EURUSD", "forex", "EURUSD", "fx-explicit"),
    ("FX:EURUSD", None, "EURUSD", "fx-venue-inferred"),
    ("OANDA:GBPJPY", None, "GBPJPY", "oanda-cross"),
    ("FX_IDC:USDJPY", None, "USDJPY", "fx-idc"),
    ("EURUSD", "forex", "EURUSD", "fx-no-exchange"),
    ("EURUSD", None, "EUR", "unknown-venue-takes-crypto-rule"),
    ("OANDA:XAUUSD", None, "XAUUSD", "oanda-metal"),
    # stable and fiat bases
    ("BINANCE:EURUSDT", None, "EUR", "eur-token"),
    ("BINANCE:USDCUSDT", None, "USDC", "usdc-stable-listing"),
    ("BINANCE:FDUSDUSDT", None, "FDUSD", "fdusd-stable-listing"),
    ("BINANCE:TUSDUSDT", None, "TUSD", "tusd-stable-listing"),
    ("BINANCE:USDTTRY", None, "USDT", "usdt-try"),
    ("BINANCE:SUSDUSDT", None, "SUSD", "one-quote-stripped-only"),
    ("BINANCE:USDT", None, "USDT", "bare-quote-code"),
    ("BINANCE:TUSDT", None, "T", "one-letter-base"),
    # equities: only the exchange goes
    ("NASDAQ:AAPL", None, "AAPL", "aapl"),
    ("NYSE:BRK.B", None, "BRK.B", "brk-b"),
    ("AMEX:SPY", None, "SPY", "spy"),
    ("AMEX:SPY", "etf", "SPY", "spy-etf"),
    ("NASDAQ:TUSD", None, "TUSD", "equity-keeps-quote-like-ending"),
    ("NASDAQ:ZS", None, "ZS", "equity-futures-like-root"),
    ("NASDAQ:USDUSDT", "equity", "USDUSDT", "equity-never-stripped"),
    ("AAPL", None, "AAPL", "bare-ticker-no-quote"),
    ("AAPL", "equity", "AAPL", "bare-ticker-equity"),
    # case and padding
    ("  binance:btcusdt.p  ", None, "BTC", "lower-and-padded"),
    ("nyse:brk.b", None, "BRK.B", "lower-equity"),
    ("BINANCE : ETHUSDT", None, "ETH", "spaces-around-colon"),
    ("BINANCE:BTCUSDT", "  Crypto ", "BTC", "class-case-and-spaces"),
    # crosses, wrapped tokens, aliases
    ("BINANCE:ETHBTC", None, "ETHBTC", "cross-keeps-pair"),
    ("BINANCE:SOLETH", None, "SOLETH", "cross-eth"),
    ("BINANCE:WBTCUSDT", None, "WBTC", "wbtc-distinct"),
    ("BINANCE:WBTCBTC", None, "WBTCBTC", "wbtc-cross"),
    ("KRAKEN:XBTUSD", None, "BTC", "kraken-xbt-alias"),
    ("BITMEX:XBTUSD", None, "BTC", "bitmex-xbt-alias"),
    ("XBTUSD", None, "BTC", "xbt-no-exchange"),
    # a crypto venue lists only crypto, whatever the class says
    ("BINANCE:BTCUSDT", "futures", "BTC", "crypto-venue-beats-futures"),
    ("BINANCE:BTCUSDT27MAR2026", "futures", "BTC", "crypto-venue-dated"),
    ("BINANCE:EURUSDT", "forex", "EUR", "crypto-venue-beats-forex"),
]


@pytest.mark.parametrize(
    ("symbol", "asset_class", "expected"),
    [case[:3] for case in IDENTITY_CASES],
    ids=[case[3] for case in IDENTITY_CASES],
)
def test_canonical_identity(symbol, asset_class, expected):
    assert canonical_identity(symbol, asset_class) == expected


def test_case_table_is_large_and_unique():
    ids = [case[3] for case in IDENTITY_CASES]
    assert len(ids) == len(set(ids))
    assert len(IDENTITY_CASES) >= 40


def test_ambiguous_compound_quote_is_pinned():
    # Documented limitation: on a venue listing both X/EUR and X/AEUR, a 4+ letter base ending
    # in A followed by EUR reads as the compound quote. GALA/EUR therefore becomes GAL.
    assert canonical_identity("BINANCE:GALAEUR") == "GAL"
    # ... but never on a fiat-native venue or a derivative.
    assert canonical_identity("KRAKEN:GALAEUR") == "GALA"
    assert canonical_identity("BINANCE:GALAEUR.P") == "GALA"


PARTS_CASES = [
    (
        "BINANCE:1000PEPEUSDT.P",
        None,
        ListingParts("BINANCE", "1000PEPEUSDT.P", "PEPE", "USDT", 1000, "perp", "", "crypto"),
        "multiplier-perp",
    ),
    (
        "binance:1mbabydogeusdt",
        None,
        ListingParts("BINANCE", "1MBABYDOGEUSDT", "BABYDOGE", "USDT", 10**6, "spot", "", "crypto"),
        "multiplier-1m",
    ),
    (
        "BINANCE:BTCUSDT27MAR2026",
        None,
        ListingParts(
            "BINANCE", "BTCUSDT27MAR2026", "BTC", "USDT", 1, "future", "2026-03-27", "crypto"
        ),
        "dated-dmy",
    ),
    (
        "DERIBIT:BTC-27MAR26",
        None,
        ListingParts("DERIBIT", "BTC-27MAR26", "BTC", "", 1, "future", "2026-03-27", "crypto"),
        "dated-no-quote",
    ),
    (
        "OKX:BTC-USD-250627",
        None,
        ListingParts("OKX", "BTC-USD-250627", "BTC", "USD", 1, "future", "2025-06-27", "crypto"),
        "dated-yymmdd",
    ),
    (
        "BINANCE:BTCUSDTH2026",
        None,
        ListingParts("BINANCE", "BTCUSDTH2026", "BTC", "USDT", 1, "future", "2026-03", "crypto"),
        "dated-month-code",
    ),
    (
        "OKX:BTC-USDT-SWAP",
        None,
        ListingParts("OKX", "BTC-USDT-SWAP", "BTC", "USDT", 1, "perp", "", "crypto"),
        "okx-swap",
    ),
    (
        "CME:ESZ2025",
        "futures",
        ListingParts("CME", "ESZ2025", "ES", "", 1, "future", "2025-12", "futures"),
        "cme-dated",
    ),
    (
        "CME:ESZ25",
        None,
        ListingParts("CME", "ESZ25", "ES", "", 1, "future", "2025-12", "futures"),
        "cme-dated-2-digit",
    ),
    (
        "CME_MINI:ESH6",
        None,
        ListingParts("CME_MINI", "ESH6", "ES", "", 1, "future", "H6", "futures"),
        "cme-dated-1-digit-kept-as-written",
    ),
    (
        "COMEX:GC1!",
        None,
        ListingParts("COMEX", "GC1!", "GC", "", 1, "continuous", "", "futures"),
        "continuous",
    ),
    (
        "FX:EURUSD",
        None,
        ListingParts("FX", "EURUSD", "EURUSD", "USD", 1, "fx", "", "forex"),
        "fx",
    ),
    (
        "NYSE:BRK.B",
        None,
        ListingParts("NYSE", "BRK.B", "BRK.B", "", 1, "stock", "", "equity"),
        "stock",
    ),
    (
        "AMEX:SPY",
        "etf",
        ListingParts("AMEX", "SPY", "SPY", "", 1, "etf", "", "etf"),
        "etf",
    ),
    (
        "BINANCE:ETHBTC",
        None,
        ListingParts("BINANCE", "ETHBTC", "ETHBTC", "BTC", 1, "spot", "", "crypto"),
        "cross",
    ),
    (
        "KRAKEN:XBTUSD",
        None,
        ListingParts("KRAKEN", "XBTUSD", "BTC", "USD", 1, "spot", "", "crypto"),
        "alias",
    ),
    (
        "AAPL",
        None,
        ListingParts("", "AAPL", "AAPL", "", 1, "spot", "", "crypto"),
        "bare-unknown-class",
    ),
]


@pytest.mark.parametrize(
    ("symbol", "asset_class", "expected"),
    [case[:3] for case in PARTS_CASES],
    ids=[case[3] for case in PARTS_CASES],
)
def test_parse_listing(symbol, asset_class, expected):
    parts = parse_listing(symbol, asset_class)
    assert parts == expected
    assert parts.identity == canonical_identity(symbol, asset_class)


def test_listing_parts_is_frozen():
    parts = parse_listing("BINANCE:BTCUSDT")
    with pytest.raises(AttributeError):
        parts.identity = "ETH"


ERROR_CASES = [
    ("", None, "empty", "empty"),
    ("  ", None, "empty", "whitespace"),
    ("BINANCE:", None, "no ticker", "only-exchange"),
    ("BINANCE:   ", None, "no ticker", "exchange-and-spaces"),
    (":", None, "no ticker", "only-colon"),
    (":BTCUSDT", None, "empty exchange", "empty-exchange"),
    ("A:B:C", None, "more than one", "two-colons"),
    ("BINANCE:BTC USDT", None, "ticker", "inner-space"),
    ("BINANCE:BTC$", None, "ticker", "odd-character"),
    ("BINANCE:.P", None, "ticker", "suffix-only"),
    ("BIN ANCE:BTCUSDT", None, "exchange", "exchange-with-space"),
    ("BINANCE:BTCUSDT31FEB2026", None, "not a calendar date", "impossible-expiry"),
    ("OKX:BTC-USD-251327", None, "not a calendar date", "impossible-yymmdd"),
    (None, None, "not a string", "none-symbol"),
    (5, None, "not a string", "int-symbol"),
    ("BINANCE:BTCUSDT", "bond", "unknown", "unknown-class"),
    ("NYSE:AAPL", "", "unknown", "empty-class"),
    ("NYSE:AAPL", 3, "unknown", "non-string-class"),
]


@pytest.mark.parametrize(
    ("symbol", "asset_class", "match"),
    [case[:3] for case in ERROR_CASES],
    ids=[case[3] for case in ERROR_CASES],
)
def test_invalid_symbols_raise(symbol, asset_class, match):
    with pytest.raises(DataError, match=match):
        canonical_identity(symbol, asset_class)


def test_error_message_is_one_line_naming_the_symbol():
    with pytest.raises(DataError) as caught:
        canonical_identity("BINANCE:")
    message = str(caught.value)
    assert "\n" not in message
    assert "'BINANCE:'" in message


@pytest.mark.parametrize(
    "missing", [None, float("nan"), np.nan, pd.NA], ids=["none", "float-nan", "np-nan", "pd-na"]
)
def test_missing_class_is_inferred(missing):
    assert canonical_identity("FX:EURUSD", missing) == "EURUSD"
    assert canonical_identity("BINANCE:BNBUSD", missing) == "BNB"


def test_compound_quotes_are_derived_from_the_quote_list():
    assert COMPOUND_QUOTES == {
        "FDUSD": "FD",
        "TUSD": "T",
        "BUSD": "B",
        "PYUSD": "PY",
        "AEUR": "A",
        "BIDR": "B",
    }


def test_stablecoins_hold_the_usual_pegs():
    required = {"USDT", "USDC", "FDUSD", "TUSD", "BUSD", "DAI", "USDP", "PAX", "USDS", "USDE"}
    assert required | {"PYUSD"} <= STABLECOINS
    assert isinstance(STABLECOINS, frozenset)


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ("USDT", True),
        ("USDC", True),
        ("FDUSD", True),
        ("PYUSD", True),
        ("EUR", True),
        ("TRY", True),
        ("usdc", True),
        ("BTC", False),
        ("PAXG", False),
        ("USTC", False),
        ("WBTC", False),
        (canonical_identity("BINANCE:USDCUSDT"), True),
        (canonical_identity("BINANCE:EURUSDT"), True),
        (canonical_identity("BINANCE:USDTTRY"), True),
        (canonical_identity("BINANCE:BTCFDUSD"), False),
    ],
    ids=lambda value: str(value),
)
def test_is_stable_base(identity, expected):
    assert is_stable_base(identity) is expected


def test_identities_keeps_index_and_name():
    symbols = pd.Series(
        ["BINANCE:BTCUSDT", "FX:EURUSD", "BYBIT:1000PEPEUSDT.P", "NYSE:BRK.B"],
        index=[10, 20, 30, 40],
    )
    out = identities(symbols)
    expected = pd.Series(["BTC", "EURUSD", "PEPE", "BRK.B"], index=[10, 20, 30, 40], dtype="str")
    pd.testing.assert_series_equal(out, expected.rename("identity"))


def test_identities_uses_asset_classes():
    symbols = pd.Series(["EURUSD", "EURUSD", "ESZ25"], index=list("abc"))
    classes = pd.Series(["forex", None, "futures"], index=list("abc"))
    out = identities(symbols, classes)
    assert out.tolist() == ["EURUSD", "EUR", "ES"]


def test_identities_leaves_inputs_unchanged():
    symbols = pd.Series(["BINANCE:BTCUSDT.P", "NASDAQ:AAPL"])
    classes = pd.Series(["crypto", np.nan])
    symbols_before, classes_before = symbols.copy(), classes.copy()
    identities(symbols, classes)
    pd.testing.assert_series_equal(symbols, symbols_before)
    pd.testing.assert_series_equal(classes, classes_before)


def test_identities_empty():
    out = identities(pd.Series([], dtype="str"))
    assert out.empty
    assert out.name == "identity"


def test_identities_rejects_mismatched_index():
    with pytest.raises(DataError, match="index differs"):
        identities(pd.Series(["BINANCE:BTCUSDT"], index=[0]), pd.Series(["crypto"], index=[1]))


def test_identities_rejects_missing_symbol():
    with pytest.raises(DataError, match="missing symbol at index 'b'"):
        identities(pd.Series(["BINANCE:BTCUSDT", None], index=["a", "b"]))


def test_identities_rejects_invalid_symbol():
    with pytest.raises(DataError, match="no ticker"):
        identities(pd.Series(["BINANCE:BTCUSDT", "BINANCE:"]))


def test_identities_over_thousands_of_listings():
    # 5,000 rows over 2,500 distinct listings (tests assert behaviour; speed is benchmarked).
    rng = np.random.default_rng(7)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    bases = ["".join(rng.choice(letters, size=5)) for _ in range(2500)]
    symbols = pd.Series([f"BINANCE:{b}USDT.P" for b in bases] + [f"BYBIT:{b}USDT" for b in bases])
    out = identities(symbols)
    assert out.iloc[0] == out.iloc[2500] == bases[0]
    assert (out.iloc[:2500].to_numpy() == out.iloc[2500:].to_numpy()).all()


# --- properties -------------------------------------------------------------------------------

_PLAIN_QUOTES = sorted(q for q in CASH_QUOTES if q not in COMPOUND_QUOTES)
_ALL_QUOTES = (*CASH_QUOTES, *CRYPTO_QUOTES)
_VENUES = ["", "BINANCE:", "BYBIT:", "BITGET:", "OKX:", "KUCOIN:", "COINBASE:", "KRAKEN:"]


def _plain_base(base: str, quote: str) -> bool:
    """Whether ``base + quote`` can only be read as base / quote (no ambiguity to resolve)."""
    ticker = base + quote
    if any(base.endswith(q) for q in _ALL_QUOTES) or base in TICKER_ALIASES:
        return False
    if ticker in CASH_QUOTES:
        return False
    return not any(len(q) > len(quote) and ticker.endswith(q) for q in CASH_QUOTES)


bases = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=8)


@settings(deadline=None, max_examples=300)
@given(base=bases, quote=st.sampled_from(_PLAIN_QUOTES), venue=st.sampled_from(_VENUES))
def test_venue_prefix_and_perp_suffix_never_change_identity(base, quote, venue):
    assume(_plain_base(base, quote))
    forms = [
        f"{base}{quote}",
        f"{venue}{base}{quote}",
        f"{venue}{base}{quote}.P",
        f"OKX:{base}-{quote}-SWAP",
        f"OKX:{base}-{quote}",
        f"  {venue.lower()}{base.lower()}{quote.lower()}.p ",
        f"BYBIT:1000{base}{quote}.P",
    ]
    assert {canonical_identity(form) for form in forms} == {base}


@settings(deadline=None, max_examples=300)
@given(base=bases, quote=st.sampled_from(_PLAIN_QUOTES), venue=st.sampled_from(_VENUES))
def test_identity_is_idempotent_for_crypto_bases(base, quote, venue):
    assume(_plain_base(base, quote))
    once = canonical_identity(f"{venue}{base}{quote}.P")
    assert canonical_identity(once) == once
    assert canonical_identity(once, "crypto") == once


@settings(deadline=None, max_examples=200)
@given(
    base=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=8),
    quote=st.sampled_from(sorted(COMPOUND_QUOTES)),
    venue=st.sampled_from(["", "BINANCE:", "BYBIT:", "KUCOIN:"]),
)
def test_compound_quote_is_stripped_on_spot(base, quote, venue):
    assume(_plain_base(base, quote))
    assert canonical_identity(f"{venue}{base}{quote}") == base


@settings(deadline=None, max_examples=200)
@given(base=bases, quote=st.sampled_from(_PLAIN_QUOTES))
def test_identities_matches_scalar(base, quote):
    assume(_plain_base(base, quote))
    symbols = pd.Series([f"BINANCE:{base}{quote}", f"BYBIT:{base}{quote}.P"])
    assert identities(symbols).tolist() == [canonical_identity(s) for s in symbols]
