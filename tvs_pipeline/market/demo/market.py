"""The embedded demo market: a seeded, deterministic stand-in for TradingView bars and scans."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import numpy as np
import pandas as pd

from tvs_pipeline.config.schema import ResolvedScanner
from tvs_pipeline.errors import ConfigError, DataError, SourceError
from tvs_pipeline.funnel.calendars import session_opens, sessions
from tvs_pipeline.market.demo.bars import build_bars
from tvs_pipeline.market.demo.catalog import build_catalog
from tvs_pipeline.market.demo.epoch import CALENDAR, EPOCH_END, EPOCH_START, Streams, day_index
from tvs_pipeline.market.demo.model import REGIMES, build_paths, simulate_paths
from tvs_pipeline.market.demo.planted import plant_paths
from tvs_pipeline.market.demo.snapshot import build_snapshot, compute_indicators
from tvs_pipeline.market.query import DEFAULT_COLUMNS, apply_query, build_scan_query

__all__ = ["EPOCH_END", "EPOCH_START", "DemoMarket"]

MIN_SCALE = 100
# The calendars of the listings: XNYS stocks and ETFs, 24/7 crypto, 24/5 FX and CME Globex
# (exchange_calendars' CMES: Globex sessions open 17:00 Chicago the evening before, with the
# CME's holidays) for the continuous futures.
CALENDARS = ("XNYS", "24/7", "24/5", "CMES")


def _calendar_days(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Calendar-day indices of a calendar's sessions in the epoch, and their UTC opens (ns)."""
    days = sessions(name, EPOCH_START, EPOCH_END)
    return CALENDAR.get_indexer(days), session_opens(name, days).as_unit("ns").asi8


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
    paths add a persistent drift to AR(1) shocks (phi 0.1-0.2), ``stablecoin`` paths stay near 1;
    the planted ``mean_revert`` (an AR(1) deviation with a half-life of 1-5 sessions around a
    slow walk) and ``rated`` paths (the next return follows the listing's own technical rating)
    are `tvs_pipeline.market.demo.planted`'s.
    Stocks and ETFs sample their path on XNYS sessions (a weekend compounds into Monday), FX
    pairs on weekdays (24/5), continuous futures on CME Globex sessions (CMES); each
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
        scales hold more listings than ``scale``. Beyond it: the planted listings, 10 FX pairs
        and 10 continuous futures (`tvs_pipeline.market.demo.catalog`).
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
        streams = Streams(self.seed, None if shock_after is None else day_index(shock_after))
        calendars = {name: _calendar_days(name) for name in CALENDARS}
        xnys = calendars["XNYS"][0]
        self._catalog, specs = build_catalog(self.seed, self.scale, int(xnys[0]))
        self._column = {symbol: col for col, symbol in enumerate(self._catalog["symbol"])}
        self._paths, loads = build_paths(specs)
        self._latent = plant_paths(
            self._paths, simulate_paths(self._paths, loads, streams), streams, xnys
        )
        self._store = build_bars(self._catalog, self._paths, self._latent, calendars, streams)
        self._indicators = compute_indicators(self._store)

    @property
    def listings(self) -> pd.DataFrame:
        """One row per listing, sorted by symbol.

        Columns: symbol (``EXCHANGE:TICKER``), exchange, ticker, type (``stock``, ``fund``,
        ``spot``, ``swap``, ``forex``, ``futures``), asset_class (``equity``, ``etf``,
        ``crypto``, ``forex``, ``futures``), calendar (``XNYS``, ``24/7``, ``24/5`` for FX,
        ``CMES`` for futures), sector (ETFs: ``Equity``/``Fixed Income``/``Commodities``;
        crypto: ``Cryptocurrency``; FX and futures: empty), base_currency (stocks and ETFs: the
        ticker; ``PEPE`` for ``1000PEPEUSDT.P``; FX: the pair's first currency; futures:
        empty), currency (quote), multiplier (1 or 1000), first_date (first bar),
        last_date (last bar; NaT when the listing trades through the epoch end), description.
        """
        return self._store.listings.copy()

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
            Columns ``symbol, date, open, high, low, close, volume, time``; ``date`` is the
            market date as naive midnight ``datetime64[ns]``, ``time`` the instant the bar
            opens (``datetime64[ns, UTC]``), as TradingView stamps it: the session open (NYSE
            09:30 New York; FX 17:00 New York and CME Globex 17:00 Chicago the evening before;
            crypto 00:00 UTC), from which `tvs_pipeline.funnel.calendars.market_date` gives
            ``date`` back; sorted by symbol then date.
        """
        wanted = sorted({symbols} if isinstance(symbols, str) else set(symbols))
        first, last = day_index(start), day_index(end)
        parts, names = [], []
        for symbol in (s for s in wanted if s in self._column):
            lo, hi = self._store.offsets[self._column[symbol] : self._column[symbol] + 2]
            days = self._store.day[lo:hi]
            parts.append(
                np.arange(lo + days.searchsorted(first), lo + days.searchsorted(last, "right"))
            )
            names.append(symbol)
        rows = np.concatenate(parts) if parts else np.array([], dtype=np.int64)
        frame = {
            "symbol": pd.array(np.repeat(names, [len(p) for p in parts]), dtype="str"),
            "date": CALENDAR[self._store.day[rows]],
        }
        ohlcv = {field: values[rows] for field, values in self._store.ohlcv.items()}
        stamps = pd.DatetimeIndex(self._store.stamp[rows], tz="UTC")
        return pd.DataFrame(frame | ohlcv | {"time": stamps})

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
        ``crypto``: crypto; ``forex``: FX pairs; ``futures``: continuous futures; other markets
        have none). As the service does, a query naming a field its market does not know
        (``presets/markets/<market>.yaml``) is refused before anything is computed.

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
        ConfigError
            The query filters, sorts or asks for a field its market does not know (the message
            names the column and the market).
        SourceError
            The query names a column the demo market does not compute (e.g. a ``|240`` suffix).
        DataError
            ``as_of`` is outside the epoch.
        """
        # Here, not at the top: the live source's package imports the demo's bar store.
        from tvs_pipeline.market.tradingview.fields import fit_to_market

        query = build_scan_query(scanner)
        fit_to_market(query, scanner.name)  # the service's HTTP 400, before any work
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
            ``factor``, ``stablecoin``, ``mean_revert``, ``rated``; the same on every venue of
            a crypto base), ``drift_ann`` (expected drift of the log price per 365 days),
            ``half_life`` (``mean_revert``: sessions in which a deviation from the level
            halves; NaN otherwise) and ``rating_signal`` (``rated``: the next session's
            expected return per unit of the listing's technical rating, in session standard
            deviations; 0 otherwise); sorted by symbol.
        """
        paths = self._paths.iloc[self._catalog["path"].to_numpy()]
        return pd.DataFrame(
            {
                "symbol": self._catalog["symbol"].to_numpy(),
                "kind": paths["kind"].to_numpy(),
                "drift_ann": paths["drift"].to_numpy(),
                "half_life": paths["half_life"].to_numpy(dtype="float64"),
                "rating_signal": paths["signal"].to_numpy(dtype="float64"),
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
        return self._store.defects.copy()

    def regimes(self) -> pd.Series:
        """The regime (``calm``, ``turbulent``, ``crisis``) of every calendar day of the epoch.

        Returns
        -------
        Series
            Index ``date`` (every day of the epoch); values: regime names; name ``regime``.
        """
        names = np.array(REGIMES, dtype=object)[self._latent.regime]
        return pd.Series(names, index=CALENDAR.rename("date"), name="regime")

    def _snapshot(self, as_of: date) -> tuple[pd.DataFrame, np.ndarray]:
        """The snapshot of ``as_of`` and the catalog position of each of its rows."""
        day = day_index(as_of)
        if not 0 <= day < len(CALENDAR):
            raise DataError(f"demo snapshot {as_of}: outside the epoch {EPOCH_START}..{EPOCH_END}")
        return build_snapshot(day, self._catalog, self._store, self._indicators, self._latent.x)
