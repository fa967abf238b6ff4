"""The demo market's scanner snapshot: indicators on each listing's bars, read as of a day."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tvs_pipeline.indicators import rating_votes, vote_mean, wilder_adx, wilder_atr
from tvs_pipeline.market.demo.bars import OHLCV, BarStore
from tvs_pipeline.market.query import DEFAULT_COLUMNS

__all__ = ["Indicators", "build_snapshot", "compute_indicators"]

SNAPSHOT_TEXT = {"ticker": "symbol", "name": "ticker", "description": "description",
                 "type": "type", "exchange": "exchange", "currency": "currency",
                 "base_currency": "base_currency", "sector": "sector"}  # fmt: skip


@dataclass(frozen=True, eq=False)
class Indicators:
    """ADX, ATR and the two rating votes of every bar, aligned with the ``BarStore`` rows."""

    adx: np.ndarray
    atr: np.ndarray
    ma: np.ndarray
    other: np.ndarray


def compute_indicators(store: BarStore) -> Indicators:
    """ADX, ATR and rating votes of every bar, on each listing's own bars (causal).

    Parameters
    ----------
    store : BarStore
        Every listing's bars.

    Returns
    -------
    Indicators
        Wilder ADX and ATR (14); ``ma`` and ``other``: ``Recommend.MA`` and
        ``Recommend.Other`` (`tvs_pipeline.indicators.rating_votes`).
    """
    lengths = np.diff(store.offsets)
    out = {name: np.full(len(store.day), np.nan) for name in ("adx", "atr", "ma", "other")}
    order = np.argsort(lengths, kind="stable")  # similar lengths share a top-aligned panel
    for chunk in np.array_split(order, max(1, len(order) // 256)):
        panel = {f: np.full((lengths[chunk].max(), len(chunk)), np.nan) for f in OHLCV[1:4]}
        for j, col in enumerate(chunk):
            lo, hi = store.offsets[col : col + 2]
            for name, values in panel.items():
                values[: hi - lo, j] = store.ohlcv[name][lo:hi]
        high, low, close = (pd.DataFrame(panel[f]) for f in OHLCV[1:4])
        ma, other = rating_votes(panel["close"], _moving_average)
        results = {
            "adx": wilder_adx(high, low, close).to_numpy(),
            "atr": wilder_atr(high, low, close).to_numpy(),
            "ma": ma,
            "other": other,
        }
        for j, col in enumerate(chunk):
            lo, hi = store.offsets[col : col + 2]
            for name, values in results.items():
                out[name][lo:hi] = values[: hi - lo, j]
    return Indicators(**out)


def build_snapshot(
    day: int,
    catalog: pd.DataFrame,
    store: BarStore,
    indicators: Indicators,
    x: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The scanner snapshot of calendar day ``day`` and the catalog position of each row.

    Parameters
    ----------
    day : int
        Calendar-day index inside the epoch.
    catalog : DataFrame
        The listings, as ``build_catalog`` returns them.
    store : BarStore
        Every listing's bars.
    indicators : Indicators
        The indicators of every bar.
    x : ndarray
        Latent log price of every path (days x paths).

    Returns
    -------
    tuple of DataFrame and ndarray
        ``ticker`` then the columns of ``DEFAULT_COLUMNS``, one row per listing with a bar at
        or before ``day``, read at that bar, in catalog order; and the catalog positions.
    """
    cols = np.flatnonzero(store.last[day] >= 0)
    rows = store.last[day, cols]
    cat = catalog.iloc[cols]
    close, volume = store.ohlcv["close"][rows], store.ohlcv["volume"][rows]
    high, low = store.ohlcv["high"][rows], store.ohlcv["low"][rows]
    crypto = (cat["asset_class"] == "crypto").to_numpy()
    base_price = np.exp(x[day, cat["path"].to_numpy()])
    ma, other = indicators.ma[rows], indicators.other[rows]
    fields = {column: cat[key].to_numpy() for column, key in SNAPSHOT_TEXT.items()}
    fields |= {
        "close": close,
        "volume": volume,
        "Value.Traded": close * volume,
        "market_cap_basic": cat["units"].to_numpy() * np.where(crypto, base_price, close),
        "ADX": indicators.adx[rows],
        "Recommend.All": vote_mean([ma, other]),
        "Recommend.MA": ma,
        "Recommend.Other": other,
        "Perf.W": _perf(store, rows, cols, 7),
        "Perf.1M": _perf(store, rows, cols, 30),
        "Perf.3M": _perf(store, rows, cols, 91),
        "Volatility.D": (high - low) / low * 100.0,
        "ATR": indicators.atr[rows],
    }
    return pd.DataFrame(fields)[["ticker", *DEFAULT_COLUMNS]], cols


def _perf(store: BarStore, rows: np.ndarray, cols: np.ndarray, days: int) -> np.ndarray:
    """Percent change from the last close at or before (last bar's day - ``days``)."""
    then = store.day[rows] - days
    prior = np.where(then >= 0, store.last[np.maximum(then, 0), cols], -1)
    prior = np.where(prior >= 0, prior, store.offsets[cols])  # younger: since the first bar
    close = store.ohlcv["close"]
    return (close[rows] / close[prior] - 1.0) * 100.0


def _moving_average(values: np.ndarray, n: int) -> np.ndarray:
    """Simple moving average down the rows of top-aligned columns (NaN before the n-th row)."""
    total = np.cumsum(values, axis=0)
    out = np.full_like(values, np.nan)
    out[n - 1 :] = total[n - 1 :]
    out[n:] -= total[:-n]
    return out / n
