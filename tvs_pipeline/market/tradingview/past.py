"""Past days on the live source: today's broad pool and its bars, fetched once, read at each D.

The scanner keeps no past, so a backfill day ``D`` before the latest complete day is answered
point in time (``market.point_in_time``): the pool of the scanner's L0 universe is scanned once
(no sort, no limit), its listings' daily bars are fetched once over every day asked so far plus
two years of warm-up, and each day's query runs on the scanner fields rebuilt from the bars up to
``D``. Pools and bars are kept for the life of the source, so a 30-day backfill scans each pool
once and fetches its bars once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from tvs_pipeline.config.schema import ResolvedScanner
from tvs_pipeline.funnel.calendars import market_date
from tvs_pipeline.funnel.source import NOTE_LOG
from tvs_pipeline.market.point_in_time import (
    DESCRIPTIVE,
    FETCH_DAYS,
    SURVIVORSHIP,
    check_point_in_time,
    pool_query,
    scan_at,
    snapshot_at,
)
from tvs_pipeline.market.query import ScanQuery, universe_rules
from tvs_pipeline.market.tradingview.fields import market_fields
from tvs_pipeline.market.tradingview.scan_query import plan_scan

if TYPE_CHECKING:
    from tvs_pipeline.market.tradingview.source import TradingViewSource

__all__ = ["PastScans", "PoolBars"]

BAR_FIELDS = ("symbol", "market_date", "open", "high", "low", "close", "volume")


@dataclass
class PoolBars:
    """One pool's listings and their bars over ``[start, end]`` (market dates)."""

    pool: pd.DataFrame
    bars: pd.DataFrame
    start: date
    end: date
    seconds: float = 0.0


class PastScans:
    """Point-in-time scans of past days for one ``TradingViewSource``.

    Attributes
    ----------
    days : set of date
        Days answered point in time (their universes carry the survivorship caveat).
    costs : list of dict
        Per scan: scanner, day, pool size, rows, and seconds spent (pool, bars, compute).
    """

    def __init__(self, source: TradingViewSource) -> None:
        self.source = source
        self.days: set[date] = set()
        self.costs: list[dict[str, object]] = []
        self._pools: dict[str, PoolBars] = {}
        self._snapshots: dict[tuple[str, date], pd.DataFrame] = {}

    def scan(
        self, scanner: ResolvedScanner, query: ScanQuery, as_of: date, latest: date
    ) -> pd.DataFrame:
        """The rows of ``query`` at the close of ``as_of`` (a day before ``latest``).

        Raises
        ------
        ConfigError
            The query filters (or sorts, with a binding limit) on a field bars do not determine.
        SourceError
            The pool scan or its bar fetch failed.
        """
        check_point_in_time(query, scanner.name, as_of)
        started = time.perf_counter()
        key, held = self._pool(scanner, query, as_of, latest)
        fetched = time.perf_counter()
        if (key, as_of) not in self._snapshots:  # one snapshot per pool and day
            self._snapshots[(key, as_of)] = snapshot_at(held.pool, held.bars, as_of)
        snap = self._snapshots[(key, as_of)]
        rows = scan_at(query, scanner.name, held.pool, held.bars, as_of, snap)
        self.days.add(as_of)
        self.costs.append(
            {
                "scanner": scanner.name,
                "as_of": as_of,
                "pool": len(held.pool),
                "rows": len(rows),
                "fetch_seconds": round(fetched - started, 3),
                "compute_seconds": round(time.perf_counter() - fetched, 3),
            }
        )
        return rows

    def _pool(
        self, scanner: ResolvedScanner, query: ScanQuery, as_of: date, latest: date
    ) -> tuple[str, PoolBars]:
        fields = market_fields(query.market)
        rules = universe_rules(scanner)
        wide = pool_query(query, rules, tuple(c for c in fields.columns if c in DESCRIPTIVE))
        key = repr((wide.market, wide.filters))
        need = as_of - timedelta(days=FETCH_DAYS)
        held = self._pools.get(key)
        if held is not None and held.start <= need and held.end >= as_of:
            return key, held
        started = time.perf_counter()
        if held is None:
            name = f"{scanner.name} pool"
            pool = self.source.scanner.scan(plan_scan(wide, name), name).rows
            NOTE_LOG.warning(
                "scanner %s: as_of %s: %s; pool of %d listings (%s)",
                scanner.name,
                as_of,
                "past days answered point in time from bars",
                len(pool),
                SURVIVORSHIP,
            )
        else:
            pool = held.pool
        start = min(need, held.start) if held is not None else need
        raw = self.source.fetch_quietly(pool["ticker"].tolist(), start, latest)
        bars = raw.assign(market_date=market_date(raw["time"], fields.asset_class))
        bars = bars.loc[bars["market_date"] <= pd.Timestamp(latest), list(BAR_FIELDS)]
        held = PoolBars(pool, bars.reset_index(drop=True), start, latest)
        held.seconds = time.perf_counter() - started
        self._pools[key] = held
        self._snapshots = {k: v for k, v in self._snapshots.items() if k[0] != key}
        return key, held
