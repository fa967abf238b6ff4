"""The embedded demo market: a seeded, deterministic stand-in for TradingView bars and scans."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from datetime import date

import numpy as np
import pandas as pd

from tvs_pipeline.config.schema import ResolvedScanner
from tvs_pipeline.errors import ConfigError, DataError, SourceError
from tvs_pipeline.funnel.calendars import sessions
from tvs_pipeline.funnel.indicators import rsi, wilder_adx, wilder_atr
from tvs_pipeline.market.query import DEFAULT_COLUMNS, apply_query, build_scan_query

__all__ = ["EPOCH_END", "EPOCH_START", "DemoMarket"]

EPOCH_START = date(2021, 1, 1)
EPOCH_END = date(2028, 12, 31)
CALENDAR = pd.date_range(EPOCH_START, EPOCH_END, freq="D").as_unit("ns")
YEAR = 365.0
ANCHOR_DAY = (date(2025, 1, 1) - EPOCH_START).days  # catalog prices hold (in expectation) here
MIN_SCALE = 100

SECTORS = (
    "Technology Services",
    "Electronic Technology",
    "Finance",
    "Health Technology",
    "Retail Trade",
    "Energy Minerals",
    "Consumer Non-Durables",
    "Producer Manufacturing",
    "Utilities",
    "Communications",
    "Transportation",
)
SECTOR_WORDS = tuple(
    "Software Devices Financial Therapeutics Stores Energy Brands Industries Power Networks "
    "Logistics".split()
)  # one per sector, in order
# Factors: 0 market, 1-11 sectors, 12 crypto, 13 bonds, 14 commodities (annualised figures).
CRYPTO_F, BOND_F, COMMODITY_F = 12, 13, 14
FACTOR_VOL = np.array([0.14, *[0.10] * 11, 0.50, 0.06, 0.18])
FACTOR_RHO = np.array([1.0, *[0.0] * 11, 0.4, -0.2, 0.1])  # correlation with the market factor
FACTOR_DRIFT = np.zeros((15, 3))  # log drift per regime: calm, turbulent, crisis
FACTOR_DRIFT[0] = (0.22, -0.05, -1.0)
FACTOR_DRIFT[CRYPTO_F] = (0.50, -0.20, -2.0)
FACTOR_DRIFT[BOND_F] = (0.02, 0.03, 0.08)
REGIMES = ("calm", "turbulent", "crisis")
REGIME_VOL = np.array([1.0, 1.8, 3.0])
TRANSITIONS = np.array([[0.99, 0.009, 0.001], [0.025, 0.967, 0.008], [0.0, 0.04, 0.96]])
MA_WINDOWS = (10, 20, 50, 100, 200)

# ETF flavours: (label, category, {factor: loading}, idiosyncratic vol).
ETF_FLAVOURS = (
    [
        (label, "Equity", {0: beta}, vol)
        for label, beta, vol in (
            ("Total Market Index", 1.0, 0.02),
            ("Large Cap 500 Index", 1.0, 0.015),
            ("Growth Leaders", 1.15, 0.04),
            ("Value Select", 0.9, 0.04),
            ("Small Cap 2000", 1.2, 0.06),
            ("Mid Cap 400", 1.1, 0.05),
            ("Dividend Income", 0.8, 0.04),
            ("Low Volatility", 0.65, 0.04),
            ("Equal Weight 500", 1.05, 0.03),
            ("Momentum Factor", 1.1, 0.06),
            ("Quality Factor", 0.95, 0.04),
            ("Tech Heavy 100", 1.2, 0.05),
        )
    ],
    [
        (f"{sector} Sector", "Equity", {0: 1.0, k + 1: 1.0}, 0.03)
        for k, sector in enumerate(SECTORS)
    ],
    [
        (label, "Fixed Income", loads, vol)
        for label, loads, vol in (
            ("Treasury 1-3 Year", {BOND_F: 0.3}, 0.01),
            ("Treasury 7-10 Year", {BOND_F: 1.0}, 0.02),
            ("Treasury 20+ Year", {BOND_F: 2.0}, 0.03),
            ("Aggregate Bond", {BOND_F: 0.8}, 0.015),
            ("Corporate Bond", {BOND_F: 1.0, 0: 0.15}, 0.02),
            ("High Yield Bond", {BOND_F: 0.4, 0: 0.35}, 0.03),
            ("Inflation Protected", {BOND_F: 0.8}, 0.02),
        )
    ],
    [
        (label, "Commodities", {COMMODITY_F: beta}, vol)
        for label, beta, vol in (
            ("Gold Trust", 0.8, 0.10),
            ("Silver Trust", 1.2, 0.20),
            ("Crude Oil Fund", 1.5, 0.25),
            ("Broad Commodity", 1.0, 0.05),
            ("Natural Gas Fund", 1.3, 0.40),
            ("Agriculture Fund", 0.7, 0.12),
        )
    ],
)
ETF_SHARES = (0.4, 0.3, 0.18, 0.12)  # index, sector, bond, commodity
ISSUERS = ("Apex", "Harbor", "Summit", "Keystone", "Meridian", "Beacon", "Atlas", "Pinnacle")
# Crypto bases by rank: (base, price on the anchor day, name); generated tokens follow.
CRYPTO_BASES = (
    ("BTC", 60000.0, "Bitcoin"),
    ("ETH", 3000.0, "Ethereum"),
    ("SOL", 150.0, "Solana"),
    ("BNB", 550.0, "BNB"),
    ("PEPE", 1e-5, "Pepe"),
    ("XRP", 0.6, "XRP"),
    ("DOGE", 0.15, "Dogecoin"),
    ("SHIB", 2e-5, "Shiba Inu"),
    ("ADA", 0.45, "Cardano"),
    ("AVAX", 30.0, "Avalanche"),
    ("BONK", 2e-5, "Bonk"),
    ("LINK", 15.0, "Chainlink"),
    ("DOT", 6.0, "Polkadot"),
    ("TRX", 0.12, "TRON"),
    ("FLOKI", 1.5e-4, "Floki"),
    ("LTC", 80.0, "Litecoin"),
    ("NEAR", 5.0, "NEAR Protocol"),
    ("APT", 9.0, "Aptos"),
    ("ARB", 1.0, "Arbitrum"),
    ("OP", 2.0, "Optimism"),
    ("SUI", 1.5, "Sui"),
    ("INJ", 25.0, "Injective"),
    ("ATOM", 8.0, "Cosmos"),
    ("FIL", 5.0, "Filecoin"),
    ("UNI", 8.0, "Uniswap"),
    ("AAVE", 100.0, "Aave"),
    ("ETC", 25.0, "Ethereum Classic"),
    ("TON", 5.0, "Toncoin"),
)
# Stablecoins quoted in USDT on BINANCE: (base, name, traded value).
STABLES = (("USDC", "USD Coin", 8e8), ("FDUSD", "First Digital USD", 1.5e9))
QUOTE_NAMES = {"USDT": "TetherUS", "USDC": "USD Coin", "FDUSD": "First Digital USD"}
# Venues per base tier: (exchange, quote, type, share of the base's traded value), most liquid
# first. A swap on a base priced under 0.001 USD quotes 1000 units (``1000PEPEUSDT.P``).
VENUES_TOP = (
    ("BINANCE", "USDT", "swap", 0.35),
    ("BINANCE", "USDT", "spot", 0.15),
    ("BYBIT", "USDT", "swap", 0.16),
    ("OKX", "USDT", "swap", 0.15),
    ("BINANCE", "FDUSD", "spot", 0.06),
    ("BYBIT", "USDT", "spot", 0.05),
    ("OKX", "USDT", "spot", 0.05),
    ("BINANCE", "USDC", "spot", 0.03),
)
VENUES_MID = (
    ("BINANCE", "USDT", "swap", 0.4),
    ("BINANCE", "USDT", "spot", 0.25),
    ("BYBIT", "USDT", "swap", 0.2),
    ("OKX", "USDT", "spot", 0.15),
)
VENUES_TAIL = (("BINANCE", "USDT", "swap", 0.6), ("BINANCE", "USDT", "spot", 0.4))
MIN_CORE_CRYPTO = 32
# Planted defects: first event (days after EPOCH_START) and spacing; events alternate between
# the kind's two hosts (a liquid up-trending stock, a secondary venue of a top crypto base).
SCHEDULE = {"frozen": (30, 150), "gap_multi": (60, 150), "spike": (110, 150), "gap_1": (200, 300)}
RUN_LENGTH = {"frozen": 7, "gap_multi": 5, "spike": 1, "gap_1": 1}
# Halts: four liquid stocks stop trading for HALT_DAYS every HALT_EVERY days, phases
# HALT_EVERY / 4 apart, so on any day after the first halt one of them has been halted for at
# least 75 days (STALE) while still listed by the scanner with its last values.
STALE_FROM = date(2024, 6, 3)
HALT_DAYS, HALT_EVERY, HALT_HOSTS = 150, 300, 4
YOUNG_START, YOUNG_EVERY, YOUNG_DAYS = date(2024, 3, 15), 45, 90
SHOCK_TAG = 99
VENUE_NOISE = 0.0004  # log-price noise of a crypto venue around its base's path
LISTING_COLUMNS = ["symbol", "exchange", "ticker", "type", "asset_class", "calendar", "sector",
                   "base_currency", "currency", "multiplier", "first_date", "last_date",
                   "description"]  # fmt: skip
SNAPSHOT_TEXT = {"ticker": "symbol", "name": "ticker", "description": "description",
                 "type": "type", "exchange": "exchange", "currency": "currency",
                 "base_currency": "base_currency", "sector": "sector"}  # fmt: skip
OHLCV = ("open", "high", "low", "close", "volume")

Draw = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]


def _stable_id(text: str) -> int:
    """A process-independent integer for a name (never ``hash()``, which is salted)."""
    return zlib.crc32(text.encode())


def _fat_tails(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Student-t (4 dof) draws scaled to unit variance, clipped at 8 standard deviations."""
    return np.clip(rng.standard_t(4, size=shape) / np.sqrt(2.0), -8.0, 8.0)


def _normal(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.standard_normal(shape)


def _uniform(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.random(shape)


def _day(when: date | pd.Timestamp) -> int:
    """Calendar-day index of ``when`` in the epoch (negative before it)."""
    return int((pd.Timestamp(when).normalize() - CALENDAR[0]).days)


class _Catalog:
    """Builds the listings and the economic paths they sample (names, kinds, sizes)."""

    ONSETS = tuple(
        "B C D F G K L M N P R S T V Z Br Cr Dr Gr Pr Tr St Qu Pl Fl Sh Th X J H".split()
    )
    VOWELS = ("a", "e", "i", "o", "u", "y", "ai", "eo", "io", "ou")
    CODAS = ("", "", "n", "r", "x", "l", "s", "t", "m", "v", "d", "k")
    BANNED = tuple(
        "SEX ASS FUC FUK CUM TIT DIK DIC NIG NAZ KKK PIS POO GAY XXX SHT CRAP HELL DAMN KIL DEAD "
        "RAPE".split()
    )
    QUOTE_ENDS = ("USDT", "USDC", "USD", "DAI", "BTC", "ETH", "BNB", "EUR", "TRY")

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.taken = {base for base, _, _ in CRYPTO_BASES} | {stable[0] for stable in STABLES}
        self.paths: list[dict] = []
        self.rows: list[dict] = []

    def _word(self, syllables: int) -> str:
        parts = (self.ONSETS, self.VOWELS, self.CODAS)
        return "".join(p[self.rng.integers(len(p))] for _ in range(syllables) for p in parts)

    def company(self) -> tuple[str, str]:
        """A fresh ticker and company name (``NVTX``, ``Novatex``)."""
        while True:
            name = self._word(int(self.rng.integers(2, 4))).capitalize()
            consonants = "".join(c for c in name[1:].upper() if c not in "AEIOUY")
            ticker = (name[0] + consonants + name[1:].upper())[: int(self.rng.integers(3, 5))]
            if self._claim(ticker, name.upper()):
                return ticker, name

    def token(self) -> str:
        """A fresh crypto base that no quote-currency rule could truncate."""
        while True:
            token = self._word(int(self.rng.integers(1, 3))).upper()[:5]
            if len(token) >= 3 and not token.endswith(self.QUOTE_ENDS) and self._claim(token):
                return token

    def _claim(self, code: str, *words: str) -> bool:
        """Reserve ``code`` unless it is taken or it or ``words`` hold an unfortunate syllable."""
        if code in self.taken or any(bad in w for bad in self.BANNED for w in (code, *words)):
            return False
        self.taken.add(code)
        return True

    def path(
        self,
        key: str,
        kind: str,
        price: float,
        crypto: bool,
        anchor: int = ANCHOR_DAY,
        loads: dict[int, float] | None = None,
        factor_vol: float = 0.0,
    ) -> int:
        """Add an economic path of ``kind`` with its class's vol and drift ranges; its index."""
        u, sign = self.rng.uniform, -1.0 if kind == "trend_down" else 1.0
        vol, drift, phi = factor_vol, 0.0, 0.0
        if kind == "random_walk":
            vol = u(0.5, 0.9) if crypto else u(0.2, 0.4)
        elif kind.startswith("trend"):
            drift = u(0.3, 0.8) if crypto else u(0.2, 0.4)  # annual Sharpe ratio 1.7..2.5
            vol, drift, phi = drift * u(0.4, 0.6), sign * drift, u(0.1, 0.2)
        self.paths.append(
            {
                "key": key,
                "kind": kind,
                "price": price,
                "anchor": anchor,
                "loads": loads if kind == "factor" else {},
                "vol": vol,
                "drift": drift,
                "phi": phi,
            }
        )
        return len(self.paths) - 1

    def listing(
        self,
        *,
        exchange: str,
        ticker: str,
        type_: str,
        sector: str,
        base: str,
        quote: str,
        path: int,
        value: float,
        units: float,
        description: str,
        first_day: int = 0,
        multiplier: int = 1,
        rank: int = -1,
    ) -> None:
        """Add a listing; ``value`` is its traded value level, ``units`` shares or base supply."""
        self.rows.append(
            {
                "symbol": f"{exchange}:{ticker}",
                "exchange": exchange,
                "ticker": ticker,
                "type": type_,
                "asset_class": {"stock": "equity", "fund": "etf"}.get(type_, "crypto"),
                "market": "america" if type_ in ("stock", "fund") else "crypto",
                "calendar": "XNYS" if type_ in ("stock", "fund") else "24/7",
                "sector": sector,
                "base_currency": base,
                "currency": quote,
                "multiplier": multiplier,
                "description": description,
                "first_day": first_day,
                "path": path,
                "value": value,
                "units": units,
                "rank": rank,
            }
        )

    def kinds(self, n: int) -> list[str]:
        """``n`` ground-truth kinds: 20 % random walks, 10 % up, 10 % down trends, rest factor."""
        counts = {"random_walk": round(0.2 * n), "trend_up": round(0.1 * n)}
        counts["trend_down"] = counts["trend_up"]
        kinds = [kind for kind, count in counts.items() for _ in range(count)]
        kinds += ["factor"] * (n - len(kinds))
        return [kinds[i] for i in self.rng.permutation(n)]

    def log_uniform(self, low: float, high: float) -> float:
        return float(np.exp(self.rng.uniform(np.log(low), np.log(high))))

    def add_stocks(self, n: int, first_day: int) -> None:
        """US common stocks: traded value log-uniform 1M..5B USD, prices 10..500 USD."""
        for kind in self.kinds(n):
            ticker, name = self.company()
            sector = int(self.rng.integers(len(SECTORS)))
            tech = sector in (0, 1, 3)
            exchange = "NASDAQ" if self.rng.random() < (0.7 if tech else 0.35) else "NYSE"
            value, price = self.log_uniform(1e6, 5e9), self.log_uniform(10, 500)
            loads = {0: self.rng.uniform(0.6, 1.4), sector + 1: self.rng.uniform(0.4, 1.1)}
            path = self.path(
                f"{exchange}:{ticker}",
                kind,
                price,
                False,
                loads=loads,
                factor_vol=self.rng.uniform(0.15, 0.35),
            )
            suffix = ("Inc.", "Corp.", "Holdings", "Group")[self.rng.integers(4)]
            self.listing(
                exchange=exchange,
                ticker=ticker,
                type_="stock",
                sector=SECTORS[sector],
                base=ticker,
                quote="USD",
                path=path,
                value=value,
                units=value * self.rng.uniform(150, 600) / price,
                description=f"{name} {SECTOR_WORDS[sector]} {suffix}",
                first_day=first_day,
            )

    def add_etfs(self, n: int, first_day: int) -> None:
        """AMEX funds: index, sector, bond and commodity flavours, all factor-driven."""
        sizes = [round(n * share) for share in ETF_SHARES[:-1]]
        for flavours, size in zip(ETF_FLAVOURS, [*sizes, n - sum(sizes)], strict=True):
            for j in range(size):
                label, category, loads, vol = flavours[j % len(flavours)]
                ticker = self.company()[0]
                value, price = self.log_uniform(5e6, 2e10), self.log_uniform(20, 500)
                path = self.path(
                    f"AMEX:{ticker}", "factor", price, False, loads=loads, factor_vol=vol
                )
                issuer = ISSUERS[self.rng.integers(len(ISSUERS))]
                fund = "" if label.endswith(("Trust", "Fund")) else " ETF"
                self.listing(
                    exchange="AMEX",
                    ticker=ticker,
                    type_="fund",
                    sector=category,
                    base=ticker,
                    quote="USD",
                    path=path,
                    value=value,
                    units=value * self.rng.uniform(10, 40) / price,
                    description=f"{issuer} {label}{fund}",
                    first_day=first_day,
                )

    def add_base(
        self,
        base: str,
        name: str,
        path: int,
        venues: Iterable[tuple],
        value: float,
        first_day: int = 0,
        rank: int = -1,
    ) -> None:
        """List one crypto base on ``venues``; every venue shares the base's supply."""
        price = self.paths[path]["price"]
        supply = value * self.rng.uniform(20, 60) / price
        for exchange, quote, type_, share in venues:
            multiplier = 1000 if type_ == "swap" and price < 1e-3 else 1
            lead = "1000" if multiplier > 1 else ""
            ticker = f"{lead}{base}{quote}{'.P' if type_ == 'swap' else ''}"
            contract = " Perpetual Contract" if type_ == "swap" else ""
            self.listing(
                exchange=exchange,
                ticker=ticker,
                type_=type_,
                sector="Cryptocurrency",
                base=base,
                quote=quote,
                path=path,
                value=value * share,
                units=supply,
                description=f"{name} / {QUOTE_NAMES.get(quote, quote)}{contract}",
                first_day=first_day,
                multiplier=multiplier,
                rank=rank,
            )

    def add_crypto(self, budget: int) -> None:
        """Stablecoins, then bases by rank on their tier's venues until ``budget`` listings."""
        for base, name, value in STABLES:
            path = self.path(f"crypto:{base}", "stablecoin", 1.0, True, factor_vol=0.0038)
            self.add_base(base, name, path, [("BINANCE", "USDT", "spot", 1.0)], value)
        budget -= len(STABLES)
        bases: list[tuple[str, float, str, tuple]] = []
        while budget > 0:
            rank = len(bases)
            if rank < len(CRYPTO_BASES):
                base, price, name = CRYPTO_BASES[rank]
            else:
                base = name = self.token()
                price = self.log_uniform(0.01, 50)
            venues = VENUES_TOP if rank < 2 else VENUES_MID if rank < 12 else VENUES_TAIL
            bases.append((base, price, name, venues[:budget]))
            budget -= len(venues)
        for rank, ((base, price, name, venues), kind) in enumerate(
            zip(bases, self.kinds(len(bases)), strict=True)
        ):
            vol = self.rng.uniform(0.1, 0.2) if rank < 2 else self.rng.uniform(0.3, 0.6)
            loads = {CRYPTO_F: self.rng.uniform(0.7, 1.3)}
            path = self.path(f"crypto:{base}", kind, price, True, loads=loads, factor_vol=vol)
            self.add_base(base, name, path, venues, 2.5e10 * (rank + 1) ** -1.6, rank=rank)

    def add_young(self, days: Iterable[int]) -> None:
        """A new trending token every ``YOUNG_EVERY`` days on BINANCE spot and perpetual."""
        for j, day in enumerate(days):
            base, kind = self.token(), ("trend_up", "trend_down")[j % 2]
            path = self.path(f"crypto:{base}", kind, self.log_uniform(0.05, 5), True, anchor=day)
            self.add_base(base, base, path, VENUES_TAIL, self.log_uniform(5e6, 2e8), first_day=day)


class DemoMarket:
    """A deterministic synthetic market: listings, daily bars, scanner snapshots, ground truth.

    Every listing's whole history over ``EPOCH_START..EPOCH_END`` is generated once at
    construction, from ``numpy.random.default_rng((seed, stable id, stream))`` streams, and
    sliced on request: the same seed gives the same bar for a date whatever window is asked for.

    Model: a calm/turbulent/crisis Markov chain on calendar days (vol x1 / x1.8 / x3, lower drift
    in crisis); a market factor, 11 sector factors, a crypto factor (correlated 0.4 with the
    market), bond and commodity factors; Student-t (4 dof) shocks scaled to unit variance. Each
    economic path is a latent log price on every calendar day: ``factor`` paths load on factors
    (regime-scaled), ``random_walk`` paths are iid with zero drift, ``trend_up``/``trend_down``
    paths add a persistent drift to AR(1) shocks (phi 0.1-0.2), ``stablecoin`` paths stay near 1.
    Stocks and ETFs sample their path on XNYS sessions (a weekend compounds into Monday); each
    venue of a crypto base samples the base's path every day with ~4 bp of venue noise (x1000 for
    multiplier tickers). Opens sit near the previous close, highs and lows bracket both, and
    volume is lognormal around the listing's level, higher on big moves.

    Parameters
    ----------
    seed : int, default 7
        Seed of every random stream (>= 0).
    scale : int, default 300
        Number of listings (>= 100): 50 % US stocks, 10 % ETFs, 40 % crypto including the fixed
        stream of young tokens (78 listings); crypto keeps at least 32 other listings, so small
        scales hold more listings than ``scale``.
    shock_after : date, optional
        When given, every draw dated after this day comes from a different random stream, so bars
        after it change (continuing from its close) while bars and snapshots up to it do not.

    Raises
    ------
    ConfigError
        ``seed`` is negative or ``scale`` is below 100.
    """

    def __init__(self, seed: int = 7, scale: int = 300, shock_after: date | None = None) -> None:
        if seed < 0:
            raise ConfigError(f"demo market seed {seed}: must be >= 0")
        if scale < MIN_SCALE:
            raise ConfigError(f"demo market scale {scale}: must be >= {MIN_SCALE}")
        self.seed, self.scale, self.shock_after = int(seed), int(scale), shock_after
        self._shock_row = None if shock_after is None else _day(shock_after)
        self._xnys = CALENDAR.get_indexer(sessions("XNYS", EPOCH_START, EPOCH_END))
        self._build_catalog()
        self._simulate_paths()
        self._plan_defects()
        self._build_bars()
        self._build_indicators()

    @property
    def listings(self) -> pd.DataFrame:
        """One row per listing, sorted by symbol.

        Columns: symbol (``EXCHANGE:TICKER``), exchange, ticker, type (``stock``, ``fund``,
        ``spot``, ``swap``), asset_class (``equity``, ``etf``, ``crypto``), calendar (``XNYS``,
        ``24/7``), sector (ETFs: ``Equity``/``Fixed Income``/``Commodities``; crypto:
        ``Cryptocurrency``), base_currency (stocks and ETFs: the ticker; ``PEPE`` for
        ``1000PEPEUSDT.P``), currency (quote), multiplier (1 or 1000), first_date (first bar),
        last_date (last bar; NaT when the listing trades through the epoch end), description.
        """
        return self._listings.copy()

    def bars(self, symbols: Iterable[str], start: date, end: date) -> pd.DataFrame:
        """Daily bars of ``symbols`` on their own sessions in ``[start, end]``.

        Parameters
        ----------
        symbols : iterable of str
            ``EXCHANGE:TICKER`` names; unknown names are simply absent from the result.
        start, end : date
            Inclusive range of market dates (nothing exists outside the epoch).

        Returns
        -------
        DataFrame
            Columns ``symbol, date, open, high, low, close, volume``; ``date`` is the market date
            as naive midnight ``datetime64[ns]``; sorted by symbol then date.
        """
        wanted = sorted({symbols} if isinstance(symbols, str) else set(symbols))
        first, last = _day(start), _day(end)
        parts, names = [], []
        for symbol in (s for s in wanted if s in self._column):
            lo, hi = self._offsets[self._column[symbol] : self._column[symbol] + 2]
            days = self._day[lo:hi]
            parts.append(
                np.arange(lo + days.searchsorted(first), lo + days.searchsorted(last, "right"))
            )
            names.append(symbol)
        rows = np.concatenate(parts) if parts else np.array([], dtype=np.int64)
        frame = {
            "symbol": pd.array(np.repeat(names, [len(p) for p in parts]), dtype="str"),
            "date": CALENDAR[self._day[rows]],
        }
        return pd.DataFrame(frame | {field: values[rows] for field, values in self._ohlcv.items()})

    def snapshot(self, as_of: date) -> pd.DataFrame:
        """Scanner fields of every listing with a bar at or before ``as_of``, as TradingView shows.

        Each row is read at the listing's last bar at or before ``as_of`` (a halted listing shows
        its last values); indicators run on the listing's own bars, causally. ``Value.Traded`` =
        close x volume; ``market_cap_basic`` = shares x close (crypto: the base's supply x its
        price on ``as_of``, the same on every venue); ``ADX``, ``ATR``: Wilder, 14;
        ``Recommend.MA`` = mean of sign(close - SMA_n) over the available n in 10, 20, 50, 100,
        200; ``Recommend.Other`` = mean of the RSI(14) vote (+1 below 30, -1 above 70, else 0) and
        the sign of momentum(10); ``Recommend.All`` = mean of the two; ``Perf.W``/``Perf.1M``/
        ``Perf.3M`` = percent change from the last close at or before the last bar's date minus
        7/30/91 days (from the first bar when the listing is younger); ``Volatility.D`` =
        (high - low) / low x 100 of the last bar.

        Parameters
        ----------
        as_of : date
            Market date inside the epoch.

        Returns
        -------
        DataFrame
            ``ticker`` (``EXCHANGE:TICKER``) then the columns of ``DEFAULT_COLUMNS``; one row per
            listing with ``first_date <= as_of``, sorted by ticker.

        Raises
        ------
        DataError
            ``as_of`` is outside ``EPOCH_START..EPOCH_END``.
        """
        return self._snapshot(as_of)[0]

    def scan(self, scanner: ResolvedScanner, as_of: date) -> pd.DataFrame:
        """Run a resolved scanner on the snapshot of ``as_of``, as the scanner service would.

        Only listings of the scanner's market are candidates (``america``: stocks and ETFs;
        ``crypto``: crypto; other markets have none).

        Parameters
        ----------
        scanner : ResolvedScanner
            The scanner to run.
        as_of : date
            Market date inside the epoch.

        Returns
        -------
        DataFrame
            ``ticker`` then the query's columns, filtered, sorted and cut by ``apply_query``.

        Raises
        ------
        SourceError
            The query names a column the demo market does not compute (e.g. a ``|240`` suffix).
        DataError
            ``as_of`` is outside the epoch.
        """
        query = build_scan_query(scanner)
        known = {"ticker", *DEFAULT_COLUMNS}
        for column in [rule.column for rule in query.filters] + [*query.columns, query.sort_by]:
            if column not in known:
                raise SourceError(
                    f"demo scan {scanner.name}: column {column!r} is not available "
                    "(daily scanner fields only, no timeframe suffix)"
                )
        snap, cols = self._snapshot(as_of)
        in_market = self._catalog["market"].to_numpy()[cols] == query.market
        return apply_query(snap[in_market].reset_index(drop=True), query)

    def ground_truth(self) -> pd.DataFrame:
        """The process that generated each listing.

        Returns
        -------
        DataFrame
            Columns ``symbol``, ``kind`` (``random_walk``, ``trend_up``, ``trend_down``,
            ``factor``, ``stablecoin``; the same on every venue of a crypto base), ``drift_ann``
            (expected drift of the log price per 365 days); sorted by symbol.
        """
        paths = self._paths.iloc[self._catalog["path"].to_numpy()]
        return pd.DataFrame(
            {
                "symbol": self._catalog["symbol"].to_numpy(),
                "kind": paths["kind"].to_numpy(),
                "drift_ann": paths["drift"].to_numpy(),
            }
        )

    def defects(self) -> pd.DataFrame:
        """The planted data defects with their market dates.

        ``gap_1``: one missing session; ``gap_multi``: 5 consecutive missing sessions; ``stale``:
        no bar from ``start`` on while the listing stays in snapshots; ``spike``: a one-day +900 %
        close that reverts the next session; ``frozen``: 7 flat sessions with one close;
        ``young``: first bar on ``start``, younger than 90 days up to ``end``. Every 500-day
        window ending between 2024-06-01 and the epoch end holds each kind; ``gap_1`` sits on two
        listings, 600 days apart on each, 300 days apart between them.

        Returns
        -------
        DataFrame
            Columns ``symbol``, ``defect``, ``start``, ``end`` (inclusive, naive
            ``datetime64[ns]``); sorted by defect, symbol and start.
        """
        return self._defects.copy()

    def regimes(self) -> pd.Series:
        """The regime (``calm``, ``turbulent``, ``crisis``) of every calendar day of the epoch.

        Returns
        -------
        Series
            Index ``date`` (every day of the epoch); values: regime names; name ``regime``.
        """
        names = np.array(REGIMES, dtype=object)[self._regime]
        return pd.Series(names, index=CALENDAR.rename("date"), name="regime")

    def _draw(self, ident: int, tag: int, draw: Draw, cols: int) -> np.ndarray:
        """Calendar-day draws of one stream; rows after ``shock_after`` come from another."""
        out = draw(np.random.default_rng([self.seed, ident, tag]), (len(CALENDAR), cols))
        if self._shock_row is not None and self._shock_row + 1 < len(CALENDAR):
            start = max(self._shock_row + 1, 0)
            rng = np.random.default_rng([self.seed, ident, tag, SHOCK_TAG])
            out[start:] = draw(rng, (len(CALENDAR) - start, cols))
        return out

    def _build_catalog(self) -> None:
        builder = _Catalog(np.random.default_rng([self.seed, _stable_id("catalog")]))
        n_stock, n_etf = round(0.5 * self.scale), round(0.1 * self.scale)
        young = range(_day(YOUNG_START), len(CALENDAR), YOUNG_EVERY)
        builder.add_stocks(n_stock, int(self._xnys[0]))
        builder.add_etfs(n_etf, int(self._xnys[0]))
        builder.add_crypto(max(self.scale - n_stock - n_etf - 2 * len(young), MIN_CORE_CRYPTO))
        builder.add_young(young)
        self._catalog = pd.DataFrame(builder.rows).sort_values("symbol", ignore_index=True)
        self._catalog["id"] = [_stable_id(symbol) for symbol in self._catalog["symbol"]]
        self._column = {symbol: col for col, symbol in enumerate(self._catalog["symbol"])}
        self._loads = np.zeros((len(builder.paths), len(FACTOR_VOL)))
        for index, spec in enumerate(builder.paths):
            for factor, beta in spec.pop("loads").items():
                self._loads[index, factor] = beta
        paths = pd.DataFrame(builder.paths)
        factor_kind = (paths["kind"] == "factor").to_numpy()
        paths["in_regime"] = factor_kind  # factor paths feel the regime's vol multiplier
        mean_drift = FACTOR_DRIFT @ _stationary(TRANSITIONS)
        paths.loc[factor_kind, "drift"] = (self._loads @ mean_drift)[factor_kind]
        factor_var = np.where(factor_kind, (self._loads**2) @ FACTOR_VOL**2, 0.0)
        paths["vol_d"] = np.sqrt(paths["vol"] ** 2 + factor_var) / np.sqrt(YEAR)
        self._paths = paths

    def _simulate_paths(self) -> None:
        """Latent log price of every path on every calendar day (``_x``: days x paths)."""
        days, paths = len(CALENDAR), self._paths
        bounds = TRANSITIONS.cumsum(axis=1).tolist()
        self._regime, state = np.empty(days, dtype=np.int64), 0
        for day, u in enumerate(self._draw(_stable_id("regime"), 0, _uniform, 1)[:, 0].tolist()):
            state = 0 if u < bounds[state][0] else 1 if u < bounds[state][1] else 2
            self._regime[day] = state
        self._vol_mult = REGIME_VOL[self._regime]
        eps = self._draw(_stable_id("factors"), 0, _fat_tails, len(FACTOR_VOL))
        shocks = FACTOR_RHO * eps[:, :1] + np.sqrt(1.0 - FACTOR_RHO**2) * eps
        factors = FACTOR_DRIFT[:, self._regime].T / YEAR
        factors += self._vol_mult[:, None] * FACTOR_VOL / np.sqrt(YEAR) * shocks
        idio = np.column_stack(
            [self._draw(_stable_id(key), 1, _fat_tails, 1)[:, 0] for key in paths["key"]]
        )
        kind, vol = paths["kind"].to_numpy(), paths["vol"].to_numpy() / np.sqrt(YEAR)
        scaled = np.where(paths["in_regime"].to_numpy(), self._vol_mult[:, None], 1.0)
        returns = factors @ self._loads.T + idio * vol * scaled
        trend = np.flatnonzero(np.isin(kind, ["trend_up", "trend_down"]))
        phi = paths["phi"].to_numpy()[trend]
        innovations = idio[:, trend] * vol[trend] * np.sqrt(1.0 - phi**2)
        level = np.zeros(len(trend))
        for day in range(days):  # AR(1) shocks: trends are persistent, not just drifting
            level = phi * level + innovations[day]
            innovations[day] = level
        returns[:, trend] = paths["drift"].to_numpy()[trend] / YEAR + innovations
        drift, anchor = paths["drift"].to_numpy(), paths["anchor"].to_numpy()
        self._x = np.log(paths["price"].to_numpy()) - drift * (anchor + 1) / YEAR
        self._x = self._x + np.cumsum(returns, axis=0)
        stable = np.flatnonzero(kind == "stablecoin")
        self._x[:, stable] = np.log1p(vol[stable] * np.clip(idio[:, stable], -5.0, 5.0))

    def _plan_defects(self) -> None:
        cat = self._catalog
        kind = self._paths["kind"].to_numpy()[cat["path"].to_numpy()]
        stocks = cat[(cat["asset_class"] == "equity") & (kind == "trend_up")]
        stock_hosts = stocks.sort_values("value", ascending=False).index[:4].tolist()
        # The second most liquid venue of each top crypto base: the base stays tradable.
        core = cat[cat["rank"] >= 0].sort_values(["rank", "value"], ascending=[True, False])
        crypto_hosts = core.index[core.groupby("rank").cumcount() == 1][:5].tolist()
        # MIN_SCALE and MIN_CORE_CRYPTO guarantee 4 up-trending stocks and 5 multi-venue bases.
        self._events: dict[int, list[tuple[str, int]]] = {}
        for k, (defect, (first, step)) in enumerate(SCHEDULE.items()):
            for j, day in enumerate(range(first, len(CALENDAR) - 30, step)):
                host = (stock_hosts[k], crypto_hosts[k])[j % 2]
                self._events.setdefault(host, []).append((defect, day))
        # Halt hosts: the most liquid other stocks, up-trending first (so the gates find them).
        others = cat[(cat["asset_class"] == "equity") & ~cat.index.isin(stock_hosts)]
        order = others.assign(down=kind[others.index] != "trend_up")
        halted = order.sort_values(["down", "value"], ascending=[True, False]).index
        self._halts: dict[int, list[tuple[int, int]]] = {}
        for j, host in enumerate(halted[:HALT_HOSTS].tolist()):
            first = _day(STALE_FROM) + j * HALT_EVERY // HALT_HOSTS
            self._halts[host] = [
                (start, min(start + HALT_DAYS, len(CALENDAR)))
                for start in range(first, len(CALENDAR), HALT_EVERY)
            ]

    def _build_bars(self) -> None:
        """Every listing's bars, concatenated by listing (``_offsets``), with defects planted."""
        cat, n_days = self._catalog, len(CALENDAR)
        fields: dict[str, list[np.ndarray]] = {f: [] for f in ("day", *OHLCV)}
        found: list[tuple[str, str, int, int]] = []
        vol_d, price = self._paths["vol_d"].to_numpy(), self._paths["price"].to_numpy()
        scaled = self._paths["in_regime"].to_numpy()
        stable = (self._paths["kind"] == "stablecoin").to_numpy()
        for col, row in enumerate(cat.itertuples(index=False)):
            calendar = self._xnys if row.calendar == "XNYS" else np.arange(n_days)
            days = calendar[calendar >= row.first_day]
            for start, end in self._halts.get(col, ()):
                days = days[(days < start) | (days >= end)]
            noise = self._draw(row.id, 2, _normal, 5)[days]
            basis = VENUE_NOISE if row.asset_class == "crypto" and not stable[row.path] else 0.0
            close = np.exp(self._x[days, row.path] + basis * noise[:, 0]) * row.multiplier
            sigma = vol_d[row.path] * (self._vol_mult[days] if scaled[row.path] else 1.0)
            previous = np.concatenate([close[:1], close[:-1]])
            open_ = previous * np.exp(0.25 * vol_d[row.path] * noise[:, 1])
            high = np.maximum(open_, close) * np.exp(0.6 * sigma * np.abs(noise[:, 2]))
            low = np.minimum(open_, close) * np.exp(-0.6 * sigma * np.abs(noise[:, 3]))
            surprise = np.minimum(np.abs(np.log(close / previous)) / sigma, 6.0)
            level = price[row.path] * row.multiplier  # the listing's price on its anchor day
            volume = row.value / np.sqrt(level * close)
            volume = volume * np.exp(0.4 * noise[:, 4] + 0.5 * surprise - 0.5)
            if row.asset_class != "crypto":
                volume = np.maximum(np.round(volume), 1.0)
            keep = np.ones(len(days), dtype=bool)
            for defect, target in self._events.get(col, []):
                k, n = int(days.searchsorted(target)), RUN_LENGTH[defect]
                if k < 1 or k + n >= len(days):
                    continue
                found.append((row.symbol, defect, int(days[k]), int(days[k + n - 1])))
                if defect.startswith("gap"):
                    keep[k : k + n] = False
                elif defect == "spike":
                    close[k] = close[k - 1] * 10.0
                    high[k] = max(high[k], close[k])
                else:  # frozen: one flat bar repeated
                    flat = slice(k, k + n)
                    close[flat] = open_[flat] = high[flat] = low[flat] = close[k]
            for start, end in self._halts.get(col, ()):
                found.append((row.symbol, "stale", start, end - 1))
            if row.asset_class == "crypto" and row.first_day > 0:
                end = min(row.first_day + YOUNG_DAYS, n_days) - 1
                found.append((row.symbol, "young", row.first_day, end))
            for name, values in zip(fields, (days, open_, high, low, close, volume), strict=True):
                fields[name].append(values[keep])
        lengths = np.array([len(days) for days in fields["day"]])
        self._offsets = np.concatenate([[0], np.cumsum(lengths)])
        self._day = np.concatenate(fields.pop("day")).astype(np.int64)
        self._ohlcv = {name: np.concatenate(fields.pop(name)) for name in OHLCV}
        has_bar = np.zeros((n_days, len(cat)), dtype=np.int32)
        has_bar[self._day, np.repeat(np.arange(len(cat)), lengths)] = 1
        # _last[day, listing]: row of the listing's last bar at or before the day, -1 before it.
        self._last = np.cumsum(has_bar, axis=0, dtype=np.int32)
        before = self._last == 0
        self._last += (self._offsets[:-1] - 1).astype(np.int32)
        self._last[before] = -1
        first, last = self._day[self._offsets[:-1]], self._day[self._offsets[1:] - 1]
        through = last >= np.where(cat["calendar"] == "XNYS", self._xnys[-1], n_days - 1)
        dates = {"first_date": CALENDAR[first], "last_date": CALENDAR[last].where(~through, pd.NaT)}
        self._listings = cat.assign(**dates)[LISTING_COLUMNS]
        frame = pd.DataFrame(found, columns=["symbol", "defect", "start", "end"])
        frame["start"], frame["end"] = CALENDAR[frame["start"]], CALENDAR[frame["end"]]
        self._defects = frame.sort_values(["defect", "symbol", "start"], ignore_index=True)

    def _build_indicators(self) -> None:
        """ADX, ATR and rating votes of every bar, on each listing's own bars (causal)."""
        lengths = np.diff(self._offsets)
        out = {name: np.full(len(self._day), np.nan) for name in ("adx", "atr", "ma", "other")}
        order = np.argsort(lengths, kind="stable")  # similar lengths share a top-aligned panel
        for chunk in np.array_split(order, max(1, len(order) // 256)):
            panel = {f: np.full((lengths[chunk].max(), len(chunk)), np.nan) for f in OHLCV[1:4]}
            for j, col in enumerate(chunk):
                lo, hi = self._offsets[col : col + 2]
                for name, values in panel.items():
                    values[: hi - lo, j] = self._ohlcv[name][lo:hi]
            closes = panel["close"]
            high, low, close = (pd.DataFrame(panel[f]) for f in OHLCV[1:4])
            strength = rsi(close).to_numpy()
            rsi_vote = np.where(strength < 30, 1.0, np.where(strength > 70, -1.0, 0.0))
            rsi_vote[np.isnan(strength)] = np.nan
            momentum = np.full_like(closes, np.nan)
            momentum[10:] = closes[10:] - closes[:-10]
            averages = [_moving_average(closes, n) for n in MA_WINDOWS]
            results = {
                "adx": wilder_adx(high, low, close).to_numpy(),
                "atr": wilder_atr(high, low, close).to_numpy(),
                "ma": _vote_mean([np.sign(closes - average) for average in averages]),
                "other": _vote_mean([rsi_vote, np.sign(momentum)]),
            }
            for j, col in enumerate(chunk):
                lo, hi = self._offsets[col : col + 2]
                for name, values in results.items():
                    out[name][lo:hi] = values[: hi - lo, j]
        self._adx, self._atr, self._rec_ma, self._rec_other = out.values()

    def _snapshot(self, as_of: date) -> tuple[pd.DataFrame, np.ndarray]:
        """The snapshot of ``as_of`` and the catalog position of each of its rows."""
        day = _day(as_of)
        if not 0 <= day < len(CALENDAR):
            raise DataError(f"demo snapshot {as_of}: outside the epoch {EPOCH_START}..{EPOCH_END}")
        cols = np.flatnonzero(self._last[day] >= 0)
        rows = self._last[day, cols]
        cat = self._catalog.iloc[cols]
        close, volume = self._ohlcv["close"][rows], self._ohlcv["volume"][rows]
        high, low = self._ohlcv["high"][rows], self._ohlcv["low"][rows]
        crypto = (cat["asset_class"] == "crypto").to_numpy()
        base_price = np.exp(self._x[day, cat["path"].to_numpy()])
        ma, other = self._rec_ma[rows], self._rec_other[rows]
        fields = {column: cat[key].to_numpy() for column, key in SNAPSHOT_TEXT.items()}
        fields |= {
            "close": close,
            "volume": volume,
            "Value.Traded": close * volume,
            "market_cap_basic": cat["units"].to_numpy() * np.where(crypto, base_price, close),
            "ADX": self._adx[rows],
            "Recommend.All": _vote_mean([ma, other]),
            "Recommend.MA": ma,
            "Recommend.Other": other,
            "Perf.W": self._perf(rows, cols, 7),
            "Perf.1M": self._perf(rows, cols, 30),
            "Perf.3M": self._perf(rows, cols, 91),
            "Volatility.D": (high - low) / low * 100.0,
            "ATR": self._atr[rows],
        }
        return pd.DataFrame(fields)[["ticker", *DEFAULT_COLUMNS]], cols

    def _perf(self, rows: np.ndarray, cols: np.ndarray, days: int) -> np.ndarray:
        """Percent change from the last close at or before (last bar's day - ``days``)."""
        then = self._day[rows] - days
        prior = np.where(then >= 0, self._last[np.maximum(then, 0), cols], -1)
        prior = np.where(prior >= 0, prior, self._offsets[cols])  # younger: since the first bar
        close = self._ohlcv["close"]
        return (close[rows] / close[prior] - 1.0) * 100.0


def _stationary(transitions: np.ndarray) -> np.ndarray:
    """Stationary distribution of a Markov transition matrix."""
    values, vectors = np.linalg.eig(transitions.T)
    weights = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return weights / weights.sum()


def _moving_average(values: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average down the rows of top-aligned columns (NaN before the n-th row)."""
    total = np.cumsum(values, axis=0)
    out = np.full_like(values, np.nan)
    out[n - 1 :] = total[n - 1 :]
    out[n:] -= total[:-n]
    return out / n


def _vote_mean(votes: list[np.ndarray]) -> np.ndarray:
    """Mean of the available (non-NaN) votes; NaN where none is available."""
    stacked = np.stack(votes)
    count = np.sum(~np.isnan(stacked), axis=0)
    return np.where(count > 0, np.nansum(stacked, axis=0) / np.maximum(count, 1), np.nan)
