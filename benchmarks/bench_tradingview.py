"""History sync and scanner paging against the local TradingView stand-ins (no network).

Prints symbols per second for a daily-history sync over the websocket client (default: 300
symbols x 600 bars, 50 ms one-way latency per server message, 8 chart sessions on 2 sockets;
target < 60 s), the same sync with the server capping answers at 200 bars (paging with
request_more_data), an incremental tail sync, a 5,000-row scanner scan paged by 1,000, the
time a scan takes to fail on a host that does not resolve or refuses (issue 17: was 4 min 14 s
offline), and the cost of a point-in-time universe per past day (the demo market's listings as
the pool, every demo scanner's query applied to the fields rebuilt from bars).

Usage: python benchmarks/bench_tradingview.py [--symbols 300] [--bars 600] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import logging
import socket
import time
from datetime import UTC, date, datetime, timedelta

from tvs_pipeline.config import load_profile
from tvs_pipeline.errors import SourceUnavailable
from tvs_pipeline.market.demo import DemoMarket
from tvs_pipeline.market.point_in_time import DESCRIPTIVE, FETCH_DAYS, scan_at, snapshot_at
from tvs_pipeline.market.query import ScanQuery, build_scan_query
from tvs_pipeline.market.tradingview import HistoryClient, SeriesRequest, TradingViewSource
from tvs_pipeline.market.tradingview.scan_query import plan_scan
from tvs_pipeline.market.tradingview.scanner import ScannerClient
from tvs_pipeline.market.tradingview.testing import (
    ChartOptions,
    ChartServer,
    ScannerServer,
    synthetic_history,
    synthetic_universe,
)
from tvs_pipeline.settings import TradingViewSettings

START = datetime(2024, 1, 1, tzinfo=UTC)


def sync(symbols: int, bars: int, latency: float, cap: int, tail_days: int | None = None):
    now = START + timedelta(days=bars - 1, hours=2)
    since = (now - timedelta(days=tail_days, hours=2)) if tail_days else START
    options = ChartOptions(latency=latency, batching="packet", max_bars_per_request=cap)
    with ChartServer(synthetic_history(bars + 30), lambda: now, options) as server:
        settings = TradingViewSettings(
            ws_url=server.url, pool_size=8, connections=2, series_per_second=1000.0
        )
        client = HistoryClient(settings)
        names = [f"BINANCE:B{i}USDT" for i in range(symbols)]
        started = time.perf_counter()
        batch = client.fetch([SeriesRequest(name, since.timestamp()) for name in names])
        elapsed = time.perf_counter() - started
    got = sum(len(o.result.bars) for o in batch.outcomes.values() if o.result)
    failed = sum(o.error is not None for o in batch.outcomes.values())
    return elapsed, got, failed, server.stats


def scan(rows: int, page: int) -> tuple[float, int, int]:
    universe = synthetic_universe(rows + 1000)
    clock = lambda: datetime(2026, 7, 1, 2, tzinfo=UTC)  # noqa: E731
    with ScannerServer(lambda m: universe if m == "america" else None, clock) as server:
        settings = TradingViewSettings(
            scanner_url=server.url, requests_per_second=1000.0, page_size=page
        )
        query = ScanQuery(
            market="america",
            filters=(),
            columns=("name", "close", "Value.Traded", "Recommend.All|240"),
            sort_by="Value.Traded",
            sort_order="desc",
            limit=rows,
        )
        started = time.perf_counter()
        result = ScannerClient(settings).scan(plan_scan(query, "bench"), "bench")
        return time.perf_counter() - started, len(result.rows), result.pages


def fail_fast() -> list[tuple[str, float, str]]:
    """Seconds for a scan to fail on a name that does not resolve and on a refused port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    scanner = load_profile("demo").scanners[0]
    out = []
    for url in ("https://scanner.invalid", f"http://127.0.0.1:{port}"):
        source = TradingViewSource(TradingViewSettings(scanner_url=url))
        started = time.perf_counter()
        try:
            source.scan(scanner, date(2026, 6, 30))
        except SourceUnavailable as err:
            out.append((url, time.perf_counter() - started, str(err)))
    return out


def point_in_time(scale: int, days: int) -> tuple[int, int, float, int]:
    """Listings, bars, and seconds per past day for every demo scanner's point-in-time query."""
    demo, as_of = DemoMarket(seed=7, scale=scale), date(2026, 6, 30)
    snap = demo.snapshot(as_of)
    pool = snap[["ticker", *[c for c in DESCRIPTIVE if c in snap.columns]]]
    start = as_of - timedelta(days=FETCH_DAYS + days)
    bars = demo.bars(pool["ticker"].tolist(), start, as_of)
    bars = bars.rename(columns={"date": "market_date"})
    scanners = load_profile("demo").scanners
    queries = [(s.name, build_scan_query(s)) for s in scanners]
    started, rows = time.perf_counter(), 0
    for k in range(days):
        day = as_of - timedelta(days=k)
        snap = snapshot_at(pool, bars, day)  # one per pool and day, shared by its scanners
        for name, query in queries:
            rows += len(scan_at(query, name, pool, bars, day, snap))
    return len(pool), len(bars), (time.perf_counter() - started) / days, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=300)
    parser.add_argument("--bars", type=int, default=600)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    runs = [
        ("full window, one answer", dict(cap=5000)),
        ("full window, 200-bar pages", dict(cap=200)),
        ("nightly tail (5 days)", dict(cap=5000, tail_days=5)),
    ]
    print(
        f"history sync: {args.symbols} symbols x {args.bars} daily bars, "
        f"{args.latency * 1000:.0f} ms per message, 8 sessions on 2 sockets"
    )
    for label, options in runs:
        elapsed, got, failed, stats = sync(args.symbols, args.bars, args.latency, **options)
        print(
            f"  {label:<28} {elapsed:6.2f}s  {args.symbols / elapsed:7.1f} symbols/s  "
            f"{got:>8,} bars  {stats.messages_sent:>5} messages  "
            f"{len(stats.more_counts):>4} pages  {failed} failed"
        )
    elapsed, rows, pages = scan(5000, 1000)
    print(f"scanner: {rows:,} rows in {pages} pages of 1,000: {elapsed:.2f}s")
    for url, seconds, message in fail_fast():
        print(f"fail fast: {url}: {seconds:.2f}s: {message}")
    listings, n_bars, per_day, n_scanners = point_in_time(300, 10)
    print(
        f"point in time: pool {listings} listings, {n_bars:,} bars; {per_day:.2f}s per past day "
        f"for {n_scanners} scanners ({per_day / n_scanners:.3f}s per scanner-day)"
    )
    real = TradingViewSettings()
    print(
        f"(against the real service the defaults pace {real.series_per_second:g} series/s and "
        f"{real.requests_per_second:g} scanner request/s: {args.symbols} symbols take "
        f"~{args.symbols / real.series_per_second:.0f}s)"
    )


if __name__ == "__main__":
    main()
