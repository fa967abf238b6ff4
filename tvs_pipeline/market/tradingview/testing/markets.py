"""What the local servers serve: the demo market as TradingView shows it, and synthetic sets.

``DemoFeed`` puts a ``DemoMarket`` behind both servers: scanner snapshots of the latest
complete day of the simulated clock, and daily bars stamped at their session open in UTC
(14:30/13:30 UTC for NYSE sessions, 00:00 UTC for crypto), up to the simulated now, with the
bar still forming last. ``synthetic_universe`` and ``synthetic_history`` are bigger, cheaper
sets for paging and throughput tests.
"""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from tvs_pipeline.market.demo import EPOCH_END, EPOCH_START, DemoMarket
from tvs_pipeline.market.tradingview.testing.chart_options import SeriesData

__all__ = [
    "DemoFeed",
    "SimulatedClock",
    "synthetic_history",
    "synthetic_universe",
]

MARKET_OF = {"equity": "america", "etf": "america", "crypto": "crypto", "forex": "forex",
             "futures": "futures"}  # fmt: skip
DAY = 86_400.0


class SimulatedClock:
    """A settable UTC now shared by the servers (``clock()`` returns it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now.astimezone(UTC)

    def __call__(self) -> datetime:
        """The simulated now."""
        return self.now

    def set(self, now: datetime) -> None:
        """Move the clock."""
        self.now = now.astimezone(UTC)


@lru_cache(maxsize=1)
def _xnys() -> tuple[pd.Series, pd.Series]:
    calendar = xcals.get_calendar("XNYS", start=EPOCH_START.isoformat(), end=EPOCH_END.isoformat())
    return calendar.opens, calendar.closes


class DemoFeed:
    """A demo market served through the TradingView protocols.

    Parameters
    ----------
    market : DemoMarket
        The market behind the servers.
    unknown : iterable of str, optional
        Listings the chart service pretends not to know (``symbol_error``).
    """

    def __init__(self, market: DemoMarket, unknown: tuple[str, ...] = ()) -> None:
        self.market = market
        self.listings = market.listings.set_index("symbol")
        self.unknown = set(unknown)
        self._snapshots: dict[date, pd.DataFrame] = {}
        self._series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def universe(self, clock: SimulatedClock) -> Any:
        """The scanner's ``market -> rows`` function for the clock's latest complete day."""

        def rows(name: str) -> pd.DataFrame | None:
            as_of = clock().date() - timedelta(days=1)
            if as_of not in self._snapshots:
                snap = self.market.snapshot(as_of)
                classes = self.listings["asset_class"].reindex(snap["ticker"]).to_numpy()
                self._snapshots[as_of] = snap.assign(_market=[MARKET_OF[c] for c in classes])
            snap = self._snapshots[as_of]
            if name == "*":
                return snap.drop(columns="_market")
            if name not in set(MARKET_OF.values()):
                return None if name not in ("forex", "futures", "cfd", "bonds") else snap.iloc[:0]
            return snap.loc[snap["_market"] == name].drop(columns="_market")

        return rows

    def _bars(self, symbol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open instants, closes instants and OHLCV of a listing over the whole epoch."""
        if symbol not in self._series:
            frame = self.market.bars([symbol], EPOCH_START, EPOCH_END)
            days = pd.DatetimeIndex(frame["date"])
            if self.listings.at[symbol, "calendar"] == "XNYS":
                opens, closes = _xnys()
                start = pd.DatetimeIndex(opens.reindex(days))
                end = pd.DatetimeIndex(closes.reindex(days))
            else:  # the demo's own stamps: 00:00 UTC crypto, the evening before FX and futures
                start = pd.DatetimeIndex(frame["time"])
                end = start + pd.Timedelta(days=1)
            values = frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64")
            to_seconds = start.as_unit("s").asi8.astype("float64")
            ends = end.as_unit("s").asi8.astype("float64")
            self._series[symbol] = (to_seconds, ends, values)
        return self._series[symbol]

    def history(self, symbol: str, now: datetime) -> SeriesData | None:
        """The chart service's view of ``symbol`` at ``now`` (None when unknown)."""
        if symbol not in self.listings.index or symbol in self.unknown:
            return None
        opens, closes, values = self._bars(symbol)
        n = int(np.searchsorted(opens, now.timestamp(), side="right"))
        listing = self.listings.loc[symbol]
        info = {
            "name": listing["ticker"],
            "full_name": symbol,
            "pro_name": symbol,
            "description": listing["description"],
            "exchange": listing["exchange"],
            "type": listing["type"],
            "currency_code": listing["currency"],
            "session": "24x7" if listing["calendar"] != "XNYS" else "0930-1600",
            "timezone": "Etc/UTC" if listing["calendar"] != "XNYS" else "America/New_York",
            "pricescale": 100,
            "minmov": 1,
            "has_intraday": True,
            "visible_plots_set": "ohlcv",
        }
        close_time = float(closes[n - 1]) if n else now.timestamp()
        return SeriesData(opens[:n], values[:n], close_time, info)


def synthetic_universe(rows: int, seed: int = 11) -> pd.DataFrame:
    """A scanner universe of ``rows`` listings with nulls, ties, ``!`` tickers and ``|240`` fields.

    Returns
    -------
    DataFrame
        ``ticker`` plus ``name, type, exchange, close, volume, Value.Traded, change,
        Recommend.All, Recommend.All|240, ADX|1W``.
    """
    rng = np.random.default_rng(seed)
    exchanges = np.array(["NASDAQ", "NYSE", "AMEX", "COMEX", "BINANCE"])
    exchange = exchanges[rng.integers(0, len(exchanges), rows)]
    names = [f"GC{k}!" if ex == "COMEX" else f"S{k:05d}" for k, ex in enumerate(exchange)]
    close = np.round(rng.lognormal(3.0, 1.0, rows), 2)
    volume = np.round(rng.lognormal(12, 1.5, rows))
    traded = close * volume
    traded[rng.random(rows) < 0.02] = np.nan  # some listings have no traded value
    traded[5:9] = traded[4]  # ties
    frame = pd.DataFrame(
        {
            "ticker": [f"{ex}:{name}" for ex, name in zip(exchange, names, strict=True)],
            "name": names,
            "type": np.where(exchange == "COMEX", "futures", "stock"),
            "exchange": exchange,
            "close": close,
            "volume": volume,
            "Value.Traded": traded,
            "change": np.round(rng.normal(0, 2, rows), 3),
            "Recommend.All": np.round(rng.uniform(-1, 1, rows), 4),
            "Recommend.All|240": np.round(rng.uniform(-1, 1, rows), 4),
            "ADX|1W": np.round(rng.uniform(5, 60, rows), 2),
        }
    )
    return frame.drop_duplicates("ticker").reset_index(drop=True)


def synthetic_history(days: int, start: date = date(2024, 1, 1), volume: bool = True) -> Any:
    """A ``history`` function: every symbol has ``days`` daily crypto-style bars from ``start``.

    Bars open at 00:00 UTC; prices are a random walk seeded by the symbol's name; a name
    containing ``NOPE`` is unknown.
    """
    origin = datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()
    opens = origin + DAY * np.arange(days, dtype="float64")

    def history(symbol: str, now: datetime) -> SeriesData | None:
        if "NOPE" in symbol:
            return None
        rng = np.random.default_rng(zlib.crc32(symbol.encode()))
        close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.02, days)))
        open_ = np.concatenate([[close[0]], close[:-1]])
        high = np.maximum(open_, close) * 1.01
        low = np.minimum(open_, close) * 0.99
        vol = np.round(rng.lognormal(10, 1, days))
        n = int(np.searchsorted(opens, now.timestamp(), side="right"))
        values = np.column_stack([open_, high, low, close, vol])[:n]
        info = {"name": symbol.split(":")[-1], "pro_name": symbol, "type": "spot"}
        close_time = float(opens[n - 1] + DAY) if n else now.timestamp()
        return SeriesData(opens[:n], values, close_time, info, volume=volume)

    return history
