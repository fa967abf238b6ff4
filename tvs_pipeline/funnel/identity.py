"""Listing identity: the one rule that turns a TradingView symbol into its economic asset."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import pandas as pd

from tvs_pipeline.errors import DataError

__all__ = [
    "ASSET_CLASSES",
    "CASH_QUOTES",
    "COMPOUND_QUOTES",
    "CRYPTO_QUOTES",
    "CRYPTO_VENUES",
    "EQUITY_VENUES",
    "FIAT_CURRENCIES",
    "FIAT_NATIVE_VENUES",
    "FUTURES_VENUES",
    "FX_VENUES",
    "STABLECOINS",
    "TICKER_ALIASES",
    "ListingParts",
    "canonical_identity",
    "identities",
    "is_stable_base",
    "parse_listing",
]

ASSET_CLASSES: tuple[str, ...] = ("crypto", "equity", "etf", "forex", "futures")

# Tokens pegged to a fiat currency. Failed pegs that now trade as volatile tokens (USTC, UST)
# and commodity-backed tokens (PAXG, XAUT) are deliberately absent.
STABLECOINS: frozenset[str] = frozenset(
    {
        "USDT", "USDC", "FDUSD", "TUSD", "BUSD", "DAI", "USDP", "PAX", "USDS", "USDE",
        "PYUSD", "USD1", "USDD", "GUSD", "LUSD", "RLUSD", "BFUSD", "ZUSD",
        "EURC", "EURI", "AEUR", "EURT", "BIDR",
    }
)  # fmt: skip
FIAT_CURRENCIES: frozenset[str] = frozenset(
    {
        "USD", "EUR", "GBP", "JPY", "AUD", "CAD", "CHF", "NZD", "TRY", "BRL", "MXN", "ARS",
        "ZAR", "IDR", "UAH", "RUB", "NGN", "PLN", "RON", "CZK", "KRW", "INR", "VND", "THB",
        "PHP", "SGD", "HKD", "COP",
    }
)  # fmt: skip
# Cash-like quotes: a listing quoted in one of these returns its base's fiat value, so the quote
# is stripped: one quote, by longest suffix, with the compound-quote guard of `_compound_fits`.
CASH_QUOTES: tuple[str, ...] = (
    "USDT", "USDC", "FDUSD", "TUSD", "BUSD", "DAI", "USDP", "USDS", "USDE", "PYUSD", "USD1",
    "USDD", "AEUR", "EURC", "EURI", "BIDR",
    *sorted(FIAT_CURRENCIES),
)  # fmt: skip
# A compound quote is a longer quote that ends in a shorter one (TUSD = T + USD). Mapped to the
# prefix that makes it ambiguous: ETHTUSD is ETH/TUSD, but DOTUSD is DOT/USD.
COMPOUND_QUOTES: dict[str, str] = {
    quote: quote[: -len(shorter)]
    for quote in CASH_QUOTES
    for shorter in sorted(CASH_QUOTES, key=len)
    if len(shorter) < len(quote) and quote.endswith(shorter)
}
# Risky quotes: a listing quoted in one is a cross (its return is a ratio of two risky assets),
# so the identity keeps base and quote together, as an FX pair does.
CRYPTO_QUOTES: tuple[str, ...] = ("BTC", "ETH", "BNB")
# Pure ticker synonyms of one asset (Kraken and BitMEX spell bitcoin XBT). Wrapped or staked
# tokens (WBTC, STETH) are different assets and are never aliased.
TICKER_ALIASES: dict[str, str] = {"XBT": "BTC", "XDG": "DOGE"}

CRYPTO_VENUES: frozenset[str] = frozenset(
    {
        "BINANCE", "BINANCEUS", "BYBIT", "OKX", "BITGET", "COINBASE", "KRAKEN", "BITSTAMP",
        "GEMINI", "BITFINEX", "BITMEX", "DERIBIT", "KUCOIN", "GATEIO", "HTX", "HUOBI", "MEXC",
        "BINGX", "CRYPTOCOM", "BITHUMB", "UPBIT", "POLONIEX", "PHEMEX", "WHITEBIT", "BLOFIN",
        "COINEX", "BITMART", "LBANK",
    }
)  # fmt: skip
# Venues that quote in plain fiat and list no compound stablecoin quotes (TUSD, BUSD, AEUR, ...).
FIAT_NATIVE_VENUES: frozenset[str] = frozenset(
    {
        "COINBASE", "KRAKEN", "BITSTAMP", "GEMINI", "BITFINEX", "BITMEX", "DERIBIT", "UPBIT",
        "BITHUMB",
    }
)  # fmt: skip
FX_VENUES: frozenset[str] = frozenset(
    {"FX", "FX_IDC", "OANDA", "FOREX", "FXCM", "PEPPERSTONE", "SAXO", "FOREXCOM"}
)
FUTURES_VENUES: frozenset[str] = frozenset(
    {
        "CME", "CME_MINI", "CBOT", "CBOT_MINI", "COMEX", "COMEX_MINI", "NYMEX", "NYMEX_MINI",
        "ICEUS", "ICEEUR", "ICEEU", "EUREX", "CFE", "SGX", "OSE",
    }
)  # fmt: skip
EQUITY_VENUES: frozenset[str] = frozenset(
    {"NYSE", "NASDAQ", "AMEX", "NYSEARCA", "ARCA", "BATS", "CBOE", "OTC", "TSX", "LSE", "XETR"}
)

_VENUE_CLASS: dict[str, str] = {
    **dict.fromkeys(FX_VENUES, "forex"),
    **dict.fromkeys(FUTURES_VENUES, "futures"),
    **dict.fromkeys(EQUITY_VENUES, "equity"),
}
_CASH_QUOTE_SET = frozenset(CASH_QUOTES)
_QUOTE_LENGTHS = tuple(sorted({len(q) for q in CASH_QUOTES}, reverse=True))
# Derivative and spot markers a crypto venue appends to a ticker, with the instrument they mean.
_CRYPTO_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".P", "perp"),
    (".F", "future"),
    ("-SWAP", "perp"),
    ("_SWAP", "perp"),
    ("-PERP", "perp"),
    ("_PERP", "perp"),
    ("-SPOT", "spot"),
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTH_CODES = "FGHJKMNQUVXZ"  # CME delivery-month letters, January to December
# Crypto dated futures, each pattern explicit enough that a spot ticker cannot match it:
# BTCUSDT27MAR2026 / BTC-27MAR26 (day, month name, year), BTC-USD-250627 (separator + YYMMDD),
# BTCUSDTH2026 (a cash quote followed by a CME month letter and a 2- or 4-digit year).
_DATED_DMY = re.compile(
    rf"^(?P<root>.*[A-Z])[-_]?(?P<day>\d{{1,2}})(?P<month>{'|'.join(_MONTHS)})(?P<year>\d{{4}}|\d{{2}})$"
)
_DATED_YYMMDD = re.compile(r"^(?P<root>.+?)[-_](?P<year>\d{2})(?P<month>\d{2})(?P<day>\d{2})$")
_DATED_QUOTE_CODE = re.compile(
    rf"^(?P<root>.+(?:USDT|USDC|USD))(?P<code>[{_MONTH_CODES}])(?P<year>\d{{4}}|\d{{2}})$"
)
# Futures-class tickers: ESZ2025, ESZ25, ESH6 (root, month letter, 4-, 2- or 1-digit year).
_FUTURES_CODE = re.compile(
    rf"^(?P<root>.+?)(?P<code>[{_MONTH_CODES}])(?P<year>\d{{4}}|\d{{2}}|\d)$"
)
_CONTINUOUS = re.compile(r"^(?P<root>.+)\d!$")  # GC1!, ES2!: TradingView's continuous contracts
# 1000PEPE, 10000LADYS, 1000000MOG (a power of ten from 1e3 to 1e9) and 1MBABYDOGE (1M = 1e6).
_MULTIPLIER = re.compile(r"^(?P<factor>10{3,9}|1M)(?P<base>[A-Z][A-Z0-9]*)$")
_FX_PAIR = re.compile(r"^[A-Z]{6}$")
_EXCHANGE_RE = re.compile(r"^[A-Z0-9_]+$")
_TICKER_RE = re.compile(r"^[A-Z0-9][A-Z0-9._!/&-]*$")
_CLASS_LIST = ", ".join(ASSET_CLASSES)


@dataclass(frozen=True)
class ListingParts:
    """One listing taken apart.

    Attributes
    ----------
    exchange : str
        Upper-case venue prefix, ``''`` when the symbol has none.
    ticker : str
        Upper-case ticker as listed, without the exchange (``1000PEPEUSDT.P``).
    identity : str
        The economic asset (``PEPE``); see `canonical_identity`.
    quote : str
        Quote currency found in the ticker (``USDT``, ``BTC``, ``USD`` for ``EURUSD``), else ``''``.
    multiplier : int
        Units of the identity per contract unit (``1000`` for ``1000PEPE``), 1 by default.
    instrument : str
        ``spot``, ``perp``, ``future``, ``continuous``, ``stock``, ``etf`` or ``fx``.
    expiry : str
        ``YYYY-MM-DD`` or ``YYYY-MM`` for a dated future; the code as written when the year has
        one digit (``H6``); ``''`` otherwise.
    asset_class : str
        The class whose rule parsed the listing (one of `ASSET_CLASSES`).
    """

    exchange: str
    ticker: str
    identity: str
    quote: str = ""
    multiplier: int = 1
    instrument: str = "spot"
    expiry: str = ""
    asset_class: str = "crypto"


def canonical_identity(symbol: str, asset_class: str | None = None) -> str:
    """Economic identity of a listing: the asset it exposes, whatever the venue or wrapper.

    The class picks the rule. A known crypto venue (`CRYPTO_VENUES`) always takes the crypto
    rule, since it lists nothing else; otherwise ``asset_class`` decides, and when it is None
    the class is inferred: a continuous-contract ticker (``GC1!``) is futures, then the venue
    (`FX_VENUES`, `FUTURES_VENUES`, `EQUITY_VENUES`), and an unknown venue takes the crypto rule.

    - crypto: strip the venue suffix (``.P``, ``.F``, ``-SWAP``, ``-PERP``, ``-SPOT``), an
      explicit expiry (``27MAR2026``, ``-250627``, ``USDTH2026``), one cash quote (`CASH_QUOTES`,
      longest match that leaves a base; a ticker that is itself a cash code stays whole), a
      leading multiplier, then apply `TICKER_ALIASES`. A cross quoted in a risky asset
      (`CRYPTO_QUOTES`) keeps base and quote: ``ETHBTC``. A compound quote
      (`COMPOUND_QUOTES`) beats the plain quote it ends in only on a spot listing off the
      `FIAT_NATIVE_VENUES`, leaving a non-fiat base of three or more characters when its prefix
      is one letter: ``ETHTUSD`` -> ``ETH`` but ``BNBUSD`` -> ``BNB``, ``DOTUSD.P`` -> ``DOT``.
    - forex: the pair stays whole (``EURUSD``).
    - futures: strip ``<n>!`` or a month code with its year (``ESZ2025`` -> ``ES``).
    - equity and etf: only the exchange is stripped (``BRK.B``, and ``TUSD`` stays ``TUSD``).

    Parameters
    ----------
    symbol : str
        ``EXCHANGE:TICKER`` or a bare ticker; case and surrounding spaces are ignored.
    asset_class : str or None
        One of `ASSET_CLASSES` (case-insensitive), or None to infer it.

    Returns
    -------
    str
        Upper-case, non-empty identity.

    Raises
    ------
    DataError
        The symbol is empty, only an exchange, malformed or names an impossible expiry, or the
        asset class is unknown.
    """
    return parse_listing(symbol, asset_class).identity


def parse_listing(symbol: str, asset_class: str | None = None) -> ListingParts:
    """Take a listing apart into exchange, ticker, identity, quote, multiplier and instrument.

    Parameters
    ----------
    symbol : str
        ``EXCHANGE:TICKER`` or a bare ticker.
    asset_class : str or None
        One of `ASSET_CLASSES`, or None (or NaN) to infer it; see `canonical_identity`.

    Returns
    -------
    ListingParts
        The parts; ``identity`` equals ``canonical_identity(symbol, asset_class)``.

    Raises
    ------
    DataError
        As `canonical_identity`.
    """
    if not isinstance(symbol, str):
        raise DataError(f"symbol {symbol!r}: not a string (found {type(symbol).__name__})")
    return _parse(symbol, _normalise_class(asset_class))


def identities(symbols: pd.Series, asset_classes: pd.Series | None = None) -> pd.Series:
    """Identity of every symbol in a column (`canonical_identity`, cached per distinct listing).

    Parameters
    ----------
    symbols : Series
        Symbols, any index.
    asset_classes : Series or None
        Asset class per symbol, same index as ``symbols``; missing values are inferred.

    Returns
    -------
    Series
        String identities named ``identity``, same index as ``symbols``.

    Raises
    ------
    DataError
        A symbol is missing or invalid, an asset class is unknown, or the two indexes differ.
    """
    if symbols.isna().any():
        where = symbols.index[symbols.isna().to_numpy()][0]
        raise DataError(f"symbols: missing symbol at index {where!r}")
    if asset_classes is None:
        classes: list[str | None] = [None] * len(symbols)
    elif not asset_classes.index.equals(symbols.index):
        raise DataError("asset_classes: index differs from the symbols index")
    else:
        classes = [None if _is_missing(c) else c for c in asset_classes.tolist()]
    values = [parse_listing(s, c).identity for s, c in zip(symbols.tolist(), classes, strict=True)]
    return pd.Series(values, index=symbols.index, name="identity", dtype="str")


def is_stable_base(identity: str) -> bool:
    """Whether an identity is a stable-value asset: a stablecoin or a fiat currency.

    Fiat counts because a fiat token on a crypto venue (``BINANCE:EURUSDT`` -> ``EUR``) carries
    FX risk, not crypto risk.

    Parameters
    ----------
    identity : str
        An identity from `canonical_identity`.

    Returns
    -------
    bool
        True when the identity is in `STABLECOINS` or `FIAT_CURRENCIES`.
    """
    key = identity.strip().upper()
    return key in STABLECOINS or key in FIAT_CURRENCIES


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def _normalise_class(asset_class: object) -> str | None:
    if _is_missing(asset_class):
        return None
    key = asset_class.strip().lower() if isinstance(asset_class, str) else None
    if key not in ASSET_CLASSES:
        raise DataError(f"asset class {asset_class!r}: unknown (expected one of {_CLASS_LIST})")
    return key


@lru_cache(maxsize=1 << 16)
def _parse(symbol: str, asset_class: str | None) -> ListingParts:
    exchange, ticker = _split_symbol(symbol)
    resolved = _resolve_class(exchange, ticker, asset_class)
    if resolved in ("equity", "etf"):
        instrument = "stock" if resolved == "equity" else "etf"
        return ListingParts(exchange, ticker, ticker, "", 1, instrument, "", resolved)
    if resolved == "forex":
        quote = ticker[3:] if _FX_PAIR.match(ticker) else ""
        return ListingParts(exchange, ticker, ticker, quote, 1, "fx", "", resolved)
    if resolved == "futures":
        return _parse_futures(symbol, exchange, ticker)
    return _parse_crypto(symbol, exchange, ticker)


def _split_symbol(symbol: str) -> tuple[str, str]:
    text = symbol.strip().upper()
    if not text:
        raise DataError(f"symbol {symbol!r}: empty (expected 'EXCHANGE:TICKER' or 'TICKER')")
    if text.count(":") > 1:
        raise DataError(f"symbol {symbol!r}: more than one ':' (expected 'EXCHANGE:TICKER')")
    exchange, _, ticker = text.rpartition(":")
    exchange, ticker = exchange.strip(), ticker.strip()
    if not ticker:
        raise DataError(f"symbol {symbol!r}: no ticker after the exchange prefix")
    if ":" in text and not exchange:
        raise DataError(f"symbol {symbol!r}: empty exchange before ':'")
    if exchange and not _EXCHANGE_RE.match(exchange):
        raise DataError(f"symbol {symbol!r}: exchange {exchange!r} is not A-Z, 0-9 or _")
    if not _TICKER_RE.match(ticker):
        raise DataError(
            f"symbol {symbol!r}: ticker {ticker!r} is not A-Z/0-9 followed by A-Z 0-9 . _ - ! / &"
        )
    return exchange, ticker


def _resolve_class(exchange: str, ticker: str, asset_class: str | None) -> str:
    if exchange in CRYPTO_VENUES:
        return "crypto"
    if asset_class is not None:
        return asset_class
    if _CONTINUOUS.match(ticker):
        return "futures"
    return _VENUE_CLASS.get(exchange, "crypto")


def _parse_futures(symbol: str, exchange: str, ticker: str) -> ListingParts:
    continuous = _CONTINUOUS.match(ticker)
    if continuous:
        return ListingParts(
            exchange, ticker, continuous["root"], "", 1, "continuous", "", "futures"
        )
    dated = _FUTURES_CODE.match(ticker)
    if dated is None:
        return ListingParts(exchange, ticker, ticker, "", 1, "future", "", "futures")
    year, month = dated["year"], _MONTH_CODES.index(dated["code"]) + 1
    expiry = dated["code"] + year if len(year) == 1 else f"{_full_year(year)}-{month:02d}"
    return ListingParts(exchange, ticker, dated["root"], "", 1, "future", expiry, "futures")


def _parse_crypto(symbol: str, exchange: str, ticker: str) -> ListingParts:
    rest, instrument = ticker, "spot"
    for suffix, kind in _CRYPTO_SUFFIXES:
        if rest.endswith(suffix) and len(rest) > len(suffix):
            rest, instrument = rest[: -len(suffix)], kind
            break
    rest, expiry = _strip_expiry(symbol, rest)
    if expiry:
        instrument = "future"
    continuous = _CONTINUOUS.match(rest)
    if continuous:
        rest, instrument = continuous["root"], "continuous"
    derivative = instrument != "spot"
    base, quote, cross = _split_quote(rest, exchange, derivative)
    multiplier, base = _strip_multiplier(base)
    base = TICKER_ALIASES.get(base, base)
    identity = base + quote if cross else base
    return ListingParts(exchange, ticker, identity, quote, multiplier, instrument, expiry, "crypto")


def _strip_expiry(symbol: str, rest: str) -> tuple[str, str]:
    dmy = _DATED_DMY.match(rest)
    if dmy:
        month = _MONTHS.index(dmy["month"]) + 1
        return dmy["root"], _iso_date(symbol, _full_year(dmy["year"]), month, int(dmy["day"]))
    ymd = _DATED_YYMMDD.match(rest)
    if ymd:
        expiry = _iso_date(symbol, _full_year(ymd["year"]), int(ymd["month"]), int(ymd["day"]))
        return ymd["root"], expiry
    coded = _DATED_QUOTE_CODE.match(rest)
    if coded:
        month = _MONTH_CODES.index(coded["code"]) + 1
        return coded["root"], f"{_full_year(coded['year'])}-{month:02d}"
    return rest, ""


def _full_year(year: str) -> int:
    return int(year) if len(year) == 4 else 2000 + int(year)


def _iso_date(symbol: str, year: int, month: int, day: int) -> str:
    try:
        return date(year, month, day).isoformat()
    except ValueError as err:
        raise DataError(
            f"symbol {symbol!r}: expiry {year}-{month:02d}-{day:02d} is not a calendar date"
        ) from err


def _split_quote(rest: str, exchange: str, derivative: bool) -> tuple[str, str, bool]:
    """Split ``rest`` into (base, quote, is_cross); the quote is ``''`` when none is found."""
    if "-" in rest:
        head, _, tail = rest.partition("-")
        if head and tail in _CASH_QUOTE_SET:
            return head, tail, False
        if head and tail in CRYPTO_QUOTES:
            return head, tail, True
        return rest, "", False
    if rest in _CASH_QUOTE_SET:
        return rest, "", False
    allow_compound = not derivative and exchange not in FIAT_NATIVE_VENUES
    for length in _QUOTE_LENGTHS:
        quote, base = rest[-length:], rest[:-length]
        if not base or quote not in _CASH_QUOTE_SET:
            continue
        prefix = COMPOUND_QUOTES.get(quote)
        if prefix is not None and not _compound_fits(base, prefix, allow_compound):
            continue
        return base, quote, False
    for quote in CRYPTO_QUOTES:
        if rest.endswith(quote) and len(rest) - len(quote) >= 2:
            return rest[: -len(quote)], quote, True
    return rest, "", False


def _compound_fits(base: str, prefix: str, allowed: bool) -> bool:
    """Whether a compound quote (``T`` + ``USD``) beats the plain split it hides (``...T`` / USD).

    It never does on a derivative (perps and futures margin in USDT, USDC, USD or coin; BUSD
    perps are retired) or on a fiat-native venue. Elsewhere it needs a base that is not fiat
    (``USDTUSD`` is USDT/USD, not USD/TUSD) and, for a one-letter prefix, at least three
    characters long (``BNBUSD`` is BNB/USD, not BN/BUSD; ``ETHTUSD`` is ETH/TUSD).
    """
    if not allowed or base in FIAT_CURRENCIES:
        return False
    return len(prefix) > 1 or len(base) >= 3


def _strip_multiplier(base: str) -> tuple[int, str]:
    found = _MULTIPLIER.match(base)
    if found is None:
        return 1, base
    factor = 1_000_000 if found["factor"] == "1M" else int(found["factor"])
    return factor, found["base"]
