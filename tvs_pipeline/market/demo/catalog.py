"""The demo market's listings: stocks, ETFs, crypto, FX and futures, and their paths."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import numpy as np
import pandas as pd

from tvs_pipeline.market.demo.epoch import ANCHOR_DAY, CALENDAR, day_index, stable_id
from tvs_pipeline.market.demo.model import BOND_F, COMMODITY_F, CRYPTO_F

__all__ = ["build_catalog"]

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
YOUNG_START, YOUNG_EVERY = date(2024, 3, 15), 45  # a new token every 45 days from here
# Planted strategy ground truth beyond trends, listed after every other listing from their own
# random stream (so the listings above keep their names, paths and bars): per planted kind,
# PLANTED_STOCKS x scale stocks and PLANTED_BASES x scale crypto bases (two venues each).
PLANTED_KINDS = ("mean_revert", "rated")
PLANTED_STOCKS, PLANTED_BASES = 0.06, 0.015
# FX majors and crosses, and continuous futures, listed last from a stream of their own (so every
# listing above keeps its name, path and bars); a fixed handful, whatever the scale.
# FX: (pair, price on the anchor day, {factor: loading}); a pair loads on the market factor
# (risk-on currencies up against USD, JPY and CHF down), commodity currencies on commodities.
FX_PAIRS = (
    ("EURUSD", 1.08, {0: 0.05}),
    ("GBPUSD", 1.27, {0: 0.08}),
    ("USDJPY", 150.0, {0: 0.10, BOND_F: -0.8}),
    ("AUDUSD", 0.66, {0: 0.15, COMMODITY_F: 0.15}),
    ("USDCAD", 1.36, {0: -0.05, COMMODITY_F: -0.12}),
    ("USDCHF", 0.90, {0: -0.05}),
    ("NZDUSD", 0.60, {0: 0.12, COMMODITY_F: 0.10}),
    ("EURGBP", 0.85, {}),
    ("EURJPY", 162.0, {0: 0.12}),
    ("GBPJPY", 190.0, {0: 0.15}),
)
FX_NAMES = {"EUR": "Euro", "USD": "U.S. Dollar", "GBP": "British Pound", "JPY": "Japanese Yen",
            "AUD": "Australian Dollar", "CAD": "Canadian Dollar", "CHF": "Swiss Franc",
            "NZD": "New Zealand Dollar"}  # fmt: skip
# Futures: (exchange, root, price on the anchor day, {factor: loading}, traded value, name).
FUTURES = (
    ("CME_MINI", "ES", 5000.0, {0: 1.0}, 2e11, "E-mini S&P 500"),
    ("CME_MINI", "NQ", 18000.0, {0: 1.15, 1: 0.6}, 1e11, "E-mini Nasdaq-100"),
    ("CBOT", "ZN", 110.0, {BOND_F: 1.0}, 5e10, "10 Year T-Note"),
    ("CBOT", "ZB", 118.0, {BOND_F: 2.0}, 2e10, "U.S. Treasury Bond"),
    ("COMEX", "GC", 2300.0, {COMMODITY_F: 0.8}, 4e10, "Gold"),
    ("COMEX", "SI", 28.0, {COMMODITY_F: 1.2}, 1e10, "Silver"),
    ("COMEX", "HG", 4.2, {COMMODITY_F: 1.0, 0: 0.2}, 6e9, "Copper"),
    ("NYMEX", "CL", 75.0, {COMMODITY_F: 1.5}, 3e10, "Crude Oil"),
    ("NYMEX", "NG", 2.5, {COMMODITY_F: 1.3}, 8e9, "Natural Gas"),
    ("CBOT", "ZC", 450.0, {COMMODITY_F: 0.7}, 3e9, "Corn"),
)
# Listing type -> (asset class, scanner market, calendar); crypto's when the type is not here.
TYPE_CLASS = {
    "stock": ("equity", "america", "XNYS"),
    "fund": ("etf", "america", "XNYS"),
    "forex": ("forex", "forex", "24/5"),
    "futures": ("futures", "futures", "CMES"),
}
CRYPTO_CLASS = ("crypto", "crypto", "24/7")
HALF_LIFE = (1.0, 5.0)  # sessions: a mean-reverting listing's deviation halves this fast
RATING_SIGNAL = (0.15, 0.25)  # next-session drift per unit of rating, in sessions' vol


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
        return self._append(key, kind, price, anchor, loads if kind == "factor" else {},
                            vol, drift, phi)  # fmt: skip

    def _append(
        self,
        key: str,
        kind: str,
        price: float,
        anchor: int,
        loads: dict[int, float],
        vol: float,
        drift: float,
        phi: float,
        half_life: float = float("nan"),
        signal: float = 0.0,
    ) -> int:
        """Append one path spec; its index."""
        self.paths.append(
            {
                "key": key,
                "kind": kind,
                "price": price,
                "anchor": anchor,
                "loads": loads,
                "vol": vol,
                "drift": drift,
                "phi": phi,
                "half_life": half_life,
                "signal": signal,
            }
        )
        return len(self.paths) - 1

    def planted_path(self, key: str, kind: str, price: float, crypto: bool) -> int:
        """A planted ``mean_revert`` or ``rated`` path (`tvs_pipeline.market.demo.planted`).

        ``vol`` is the annual vol of its session shocks (crypto 60-100 %, stocks 25-45 %);
        ``half_life`` (mean_revert) is drawn in ``HALF_LIFE`` sessions, ``signal`` (rated) in
        ``RATING_SIGNAL``.
        """
        u = self.rng.uniform
        vol = u(0.6, 1.0) if crypto else u(0.25, 0.45)
        half_life, signal = float("nan"), 0.0
        if kind == "mean_revert":
            half_life = u(*HALF_LIFE)
        else:
            signal = u(*RATING_SIGNAL)
        return self._append(key, kind, price, ANCHOR_DAY, {}, vol, 0.0, 0.0, half_life, signal)

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
        asset_class, market, calendar = TYPE_CLASS.get(type_, CRYPTO_CLASS)
        self.rows.append(
            {
                "symbol": f"{exchange}:{ticker}",
                "exchange": exchange,
                "ticker": ticker,
                "type": type_,
                "asset_class": asset_class,
                "market": market,
                "calendar": calendar,
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

    def add_planted(self, n_stocks: int, n_bases: int, first_day: int) -> None:
        """Per planted kind, ``n_stocks`` stocks and ``n_bases`` crypto bases on two venues."""
        for kind in PLANTED_KINDS:
            for _ in range(n_stocks):
                ticker, name = self.company()
                sector = int(self.rng.integers(len(SECTORS)))
                exchange = "NASDAQ" if self.rng.random() < 0.5 else "NYSE"
                value, price = self.log_uniform(2e7, 2e9), self.log_uniform(10, 300)
                path = self.planted_path(f"{exchange}:{ticker}", kind, price, False)
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
                    description=f"{name} {SECTOR_WORDS[sector]} Inc.",
                    first_day=first_day,
                )
            for _ in range(n_bases):
                base = self.token()
                path = self.planted_path(f"crypto:{base}", kind, self.log_uniform(0.05, 50), True)
                self.add_base(base, base, path, VENUES_TAIL, self.log_uniform(2e7, 4e8))

    def macro_path(self, key: str, kind: str, price: float, loads: dict[int, float],
                   vol: tuple[float, float]) -> int:  # fmt: skip
        """A path of an FX pair or a future: idiosyncratic vol drawn in ``vol`` (annual).

        A trend's annual drift is 1.7-2.5 times its vol, as for stocks and crypto.
        """
        u, sign = self.rng.uniform, -1.0 if kind == "trend_down" else 1.0
        idio = u(*vol)
        if kind.startswith("trend"):
            drift = idio * u(1.7, 2.5)
            return self._append(key, kind, price, ANCHOR_DAY, {}, idio, sign * drift, u(0.1, 0.2))
        return self._append(key, kind, price, ANCHOR_DAY, loads if kind == "factor" else {},
                            idio, 0.0, 0.0)  # fmt: skip

    def add_forex(self) -> None:
        """``FX_PAIRS`` on ``FX``: 24x5 sessions, tick volume, no sector or capitalisation."""
        for (pair, price, loads), kind in zip(FX_PAIRS, self.kinds(len(FX_PAIRS)), strict=True):
            path = self.macro_path(f"forex:{pair}", kind, price, loads, (0.05, 0.09))
            base, quote = pair[:3], pair[3:]
            self.listing(
                exchange="FX",
                ticker=pair,
                type_="forex",
                sector="",
                base=base,
                quote=quote,
                path=path,
                value=price * self.log_uniform(1.5e5, 4e5),  # ticks a day x price
                units=float("nan"),
                description=f"{FX_NAMES[base]} / {FX_NAMES[quote]}",
            )

    def add_futures(self) -> None:
        """``FUTURES`` as continuous front-month contracts (``GC1!``) on CME Globex sessions."""
        kinds = self.kinds(len(FUTURES))
        for (exchange, root, price, loads, value, name), kind in zip(FUTURES, kinds, strict=True):
            path = self.macro_path(f"futures:{root}", kind, price, loads, (0.08, 0.2))
            self.listing(
                exchange=exchange,
                ticker=f"{root}1!",
                type_="futures",
                sector="",
                base="",
                quote="USD",
                path=path,
                value=value * self.rng.uniform(0.7, 1.3),
                units=float("nan"),
                description=f"{name} Futures (Continuous: Current Contract in Front)",
            )

    def add_young(self, days: Iterable[int]) -> None:
        """A new trending token every ``YOUNG_EVERY`` days on BINANCE spot and perpetual."""
        for j, day in enumerate(days):
            base, kind = self.token(), ("trend_up", "trend_down")[j % 2]
            path = self.path(f"crypto:{base}", kind, self.log_uniform(0.05, 5), True, anchor=day)
            self.add_base(base, base, path, VENUES_TAIL, self.log_uniform(5e6, 2e8), first_day=day)


def build_catalog(seed: int, scale: int, first_session: int) -> tuple[pd.DataFrame, list[dict]]:
    """The listings of a market of ``scale`` and the economic paths they sample.

    Parameters
    ----------
    seed : int
        Seed of the catalog's random stream.
    scale : int
        Number of listings: 50 % stocks, 10 % ETFs, the rest crypto including the young tokens
        (crypto keeps at least ``MIN_CORE_CRYPTO`` listings besides the young tokens); then,
        beyond ``scale``, the planted ``mean_revert`` and ``rated`` listings (per kind,
        ``PLANTED_STOCKS`` x scale stocks and ``PLANTED_BASES`` x scale bases on two venues);
        then the FX pairs ``FX_PAIRS`` and continuous futures ``FUTURES``, whatever the scale.
    first_session : int
        Calendar-day index of the first XNYS session (stocks' and ETFs' first day; FX and futures
        start on their calendar's first session in the epoch).

    Returns
    -------
    tuple of DataFrame and list of dict
        The listings sorted by symbol (default index), columns symbol, exchange, ticker, type,
        asset_class, market, calendar, sector, base_currency, currency, multiplier,
        description, first_day (calendar-day index), path (row of its path), value (traded
        value level), units (shares or base supply), rank (crypto base rank, -1 otherwise), id
        (``stable_id`` of the symbol); and one spec per path for ``build_paths``.
    """
    builder = _Catalog(np.random.default_rng([seed, stable_id("catalog")]))
    n_stock, n_etf = round(0.5 * scale), round(0.1 * scale)
    young = range(day_index(YOUNG_START), len(CALENDAR), YOUNG_EVERY)
    builder.add_stocks(n_stock, first_session)
    builder.add_etfs(n_etf, first_session)
    builder.add_crypto(max(scale - n_stock - n_etf - 2 * len(young), MIN_CORE_CRYPTO))
    builder.add_young(young)
    builder.rng = np.random.default_rng([seed, stable_id("planted")])
    planted_stocks, planted_bases = round(PLANTED_STOCKS * scale), round(PLANTED_BASES * scale)
    builder.add_planted(planted_stocks, planted_bases, first_session)
    builder.rng = np.random.default_rng([seed, stable_id("forex_futures")])
    builder.add_forex()
    builder.add_futures()
    catalog = pd.DataFrame(builder.rows).sort_values("symbol", ignore_index=True)
    catalog["id"] = [stable_id(symbol) for symbol in catalog["symbol"]]
    return catalog, builder.paths
