"""History sync and scanner paging against the local TradingView stand-ins (no network).

Prints symbols per second for a daily-history sync over the websocket client (default: 300
symbols x 600 bars, 50 ms one-way latency per server message, 8 chart sessions on 2 sockets;
target < 60 s), the same sync with the server capping answers at 200 bars (paging with
request_more_data), an incremental tail sync, and a 5,000-row scanner scan paged by 1,000.

Usage: python benchmarks/bench_tradingview.py [--symbols 300] [--bars 600] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime, timedelta

from tvs_pipeline.market.query import ScanQuery
from tvs_pipeline.market.tradingview import HistoryClient, SeriesRequest
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
    real = TradingViewSettings()
    print(
        f"(against the real service the defaults pace {real.series_per_second:g} series/s and "
        f"{real.requests_per_second:g} scanner request/s: {args.symbols} symbols take "
        f"~{args.symbols / real.series_per_second:.0f}s)"
    )


if __name__ == "__main__":
    main()
