"""A point-in-time scanner for past days: today's broad pool, its fields rebuilt from bars up to D.

The TradingView scanner answers for now and keeps no past. For a past day ``D`` the live source
instead (1) takes a broad pool once: every listing today's scanner holds in the L0 universe's
market, exchanges, types and symbol lists, without the universe's sort and limit (a top-500 by
today's traded value would leak today into the past); (2) rebuilds, for each pool listing, the
scanner fields its bars up to ``D`` determine, with the demo market's formulas (methodology §13):
close, volume, ``Value.Traded``, Wilder ADX/ATR(14), ``Recommend.*``, ``Perf.W/1M/3M``,
``Volatility.D``; (3) runs the whole L0-L4 query on them at ``D`` — filters, gates, sort and
limit (``query.apply_query``). Descriptive fields (name, type, exchange, currencies, sector) are
today's. Fields no bar determines (market capitalisation, fundamentals, analyst ratings) are
left empty, and a query that filters on one is refused for past days; a sort on one is refused
when its limit cuts the pool (it would choose the members by today's value).

What remains is survivorship: a listing delisted before today is not in today's pool, so it is
absent from every past universe (``SURVIVORSHIP``).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.indicators import vote_mean
from tvs_pipeline.market.demo.bars import BarStore
from tvs_pipeline.market.demo.snapshot import compute_indicators
from tvs_pipeline.market.query import ScanQuery, apply_query, evaluate_filter

__all__ = [
    "DESCRIPTIVE",
    "FETCH_DAYS",
    "RECONSTRUCTED",
    "SURVIVORSHIP",
    "WINDOW_BARS",
    "check_point_in_time",
    "pool_query",
    "scan_at",
    "snapshot_at",
]

# Fields rebuilt from a listing's own bars up to D (the demo market's snapshot formulas).
RECONSTRUCTED = (
    "close",
    "volume",
    "Value.Traded",
    "ADX",
    "ATR",
    "Recommend.All",
    "Recommend.MA",
    "Recommend.Other",
    "Perf.W",
    "Perf.1M",
    "Perf.3M",
    "Volatility.D",
)
# Fields of the listing, not of the day: taken from today's pool.
DESCRIPTIVE = ("name", "description", "type", "exchange", "currency", "base_currency", "sector")
TICKER = "ticker"
# Bars read for day D: each listing's last WINDOW_BARS bars up to D. Wilder smoothing (ADX, ATR,
# RSI) forgets its start as (13/14)^n, below 1e-12 after 400 bars; SMA200 needs 200. A listing
# halted for months still has 400 bars within FETCH_DAYS (two years) before D.
WINDOW_BARS = 400
FETCH_DAYS = 730
POOL_LIMIT = 100_000
SURVIVORSHIP = (
    "universe rebuilt point in time from today's listings: listings delisted before today are "
    "absent (survivorship)"
)


def pool_query(query: ScanQuery, universe: list, columns: tuple[str, ...]) -> ScanQuery:
    """The broad pool behind ``query``: its universe's constraints only, no sort, no limit.

    Parameters
    ----------
    query : ScanQuery
        The scanner's full query (its market is kept).
    universe : list of FilterRule
        The universe's exchange, type and symbol rules (``query.universe_rules``).
    columns : tuple of str
        The descriptive columns to ask for (those the market knows).

    Returns
    -------
    ScanQuery
        Every listing of the universe's market and exchanges, in name order.
    """
    return ScanQuery(
        market=query.market,
        filters=tuple(universe),
        columns=tuple(c for c in DESCRIPTIVE if c in columns),
        sort_by="name",
        sort_order="asc",
        limit=POOL_LIMIT,
    )


def _known(column: str) -> bool:
    """Whether bars up to D give ``column`` (a ``|240`` column is no daily bar's)."""
    return "|" not in column and column in (*RECONSTRUCTED, *DESCRIPTIVE, TICKER)


def check_point_in_time(query: ScanQuery, name: str, as_of: date) -> None:
    """Refuse a past-day query that filters on a field no bar determines.

    Raises
    ------
    ConfigError
        A filter names a field that is neither rebuilt from bars nor descriptive (market
        capitalisation, fundamentals, analyst ratings), or a timeframe column (``|240``).
    """
    for rule in query.filters:
        if not _known(rule.column):
            raise ConfigError(
                f"scanner {name}: as_of {as_of}: filter {rule.column} {rule.op} cannot be applied "
                "to a past day: the scanner keeps no past and bars do not determine it "
                f"(rebuilt from bars: {', '.join(RECONSTRUCTED)})"
            )


def snapshot_at(
    pool: pd.DataFrame, bars: pd.DataFrame, as_of: date, columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The scanner fields of the pool's listings as the close of ``as_of`` showed them.

    Parameters
    ----------
    pool : DataFrame
        ``ticker`` (``EXCHANGE:SYMBOL``) and descriptive columns, one row per listing.
    bars : DataFrame
        ``symbol``, ``market_date``, ``open``, ``high``, ``low``, ``close``, ``volume``; rows
        after ``as_of`` are ignored (and never read).
    as_of : date
        The day D.
    columns : tuple of str, optional
        Further columns the query asks for: empty (NaN) unless rebuilt or descriptive.

    Returns
    -------
    DataFrame
        ``ticker``, the pool's descriptive columns, ``RECONSTRUCTED`` and ``columns``; one row
        per pool listing with a bar at or before ``as_of``, read at its last bar (a halted
        listing shows its last values, as the scanner does) on its last ``WINDOW_BARS`` bars, in
        ticker order.
    """
    end = pd.Timestamp(as_of)
    days = pd.to_datetime(bars["market_date"])
    window = bars.loc[(days <= end) & bars["symbol"].isin(pool[TICKER])]
    window = window.sort_values(["symbol", "market_date"], kind="mergesort")
    window = window.groupby("symbol", sort=False).tail(WINDOW_BARS)
    start = pd.to_datetime(window["market_date"]).min() if len(window) else end
    symbols, first = np.unique(window["symbol"].to_numpy(dtype=str), return_index=True)
    offsets = np.append(first, len(window)).astype(np.int64)
    day = ((pd.to_datetime(window["market_date"]) - start).dt.days).to_numpy(np.int64)
    ohlcv = {f: window[f].to_numpy(np.float64) for f in ("open", "high", "low", "close", "volume")}
    store = BarStore(
        offsets=offsets,
        day=day,
        ohlcv=ohlcv,
        last=np.empty((0, len(symbols)), np.int64),
        listings=pd.DataFrame(),
        defects=pd.DataFrame(),
    )
    fields = _fields(store, len(symbols)) if len(symbols) else {f: [] for f in RECONSTRUCTED}
    snap = pd.DataFrame({TICKER: symbols})
    described = pool.drop_duplicates(TICKER).set_index(TICKER)
    for column in described.columns:
        snap[column] = snap[TICKER].map(described[column]).to_numpy()
    for column, values in fields.items():
        snap[column] = values
    for column in columns:
        if column not in snap.columns:
            snap[column] = np.nan
    return snap.reset_index(drop=True)


def _fields(store: BarStore, n: int) -> dict[str, np.ndarray]:
    """The rebuilt fields at each listing's last bar (demo snapshot formulas)."""
    indicators = compute_indicators(store)
    rows = store.offsets[1:] - 1
    close, volume = store.ohlcv["close"][rows], store.ohlcv["volume"][rows]
    high, low = store.ohlcv["high"][rows], store.ohlcv["low"][rows]
    ma, other = indicators.ma[rows], indicators.other[rows]
    return {
        "close": close,
        "volume": volume,
        "Value.Traded": close * volume,
        "ADX": indicators.adx[rows],
        "ATR": indicators.atr[rows],
        "Recommend.All": vote_mean([ma, other]),
        "Recommend.MA": ma,
        "Recommend.Other": other,
        "Perf.W": _perf(store, rows, 7),
        "Perf.1M": _perf(store, rows, 30),
        "Perf.3M": _perf(store, rows, 91),
        "Volatility.D": (high - low) / low * 100.0,
    }


def _perf(store: BarStore, rows: np.ndarray, days: int) -> np.ndarray:
    """% change from the last close at or before (last bar's day - ``days``), else the first."""
    out = np.empty(len(rows))
    close = store.ohlcv["close"]
    for j, row in enumerate(rows):
        lo = store.offsets[j]
        k = lo + int(np.searchsorted(store.day[lo : row + 1], store.day[row] - days, "right")) - 1
        out[j] = (close[row] / close[max(k, lo)] - 1.0) * 100.0
    return out


def scan_at(
    query: ScanQuery,
    name: str,
    pool: pd.DataFrame,
    bars: pd.DataFrame,
    as_of: date,
    snapshot: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The rows the scanner would have answered ``query`` with at the close of ``as_of``.

    The whole query — filters, sort and limit — runs on ``snapshot_at(pool, bars, as_of)``
    (or on ``snapshot``, that frame computed once for the scanners sharing a pool and a day).

    Raises
    ------
    ConfigError
        A filter names a field bars do not determine, or the sort does while the limit cuts
        the filtered pool (``check_point_in_time``).
    """
    check_point_in_time(query, name, as_of)
    snap = snapshot_at(pool, bars, as_of) if snapshot is None else snapshot
    missing = [c for c in (*query.columns, query.sort_by) if c not in snap.columns]
    snap = snap.assign(**dict.fromkeys(missing, np.nan)) if missing else snap
    if not _known(query.sort_by):
        passed = pd.Series(True, index=snap.index)
        for rule in query.filters:
            passed &= evaluate_filter(snap, rule)
        if int(passed.sum()) > query.limit:
            raise ConfigError(
                f"scanner {name}: as_of {as_of}: sort_by {query.sort_by} with limit "
                f"{query.limit} would choose {query.limit} of {int(passed.sum())} listings by "
                "today's value (bars do not determine it): sort by a field rebuilt from bars "
                f"({', '.join(RECONSTRUCTED)})"
            )
    return apply_query(snap, query)
