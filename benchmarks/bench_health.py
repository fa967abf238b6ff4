"""Normalization + health for 2,000 listings x 500 days (target <= 5 s), with a breakdown.

Usage: python benchmarks/bench_health.py [--scale 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta

from tvs_pipeline.config.schema import HealthConfig
from tvs_pipeline.funnel.health import classify_health
from tvs_pipeline.funnel.history import validate_bars
from tvs_pipeline.funnel.normalization import (
    align_to_shared_sessions,
    read_bar_window,
    returns_panel,
    wide_returns,
)
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.lake.storage import partition_path, write_parquet_atomic
from tvs_pipeline.market.demo import DemoMarket

AS_OF, LOOKBACK, FLOOR = date(2026, 6, 30), 500, 90


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=2000)
    args = parser.parse_args()
    market = DemoMarket(seed=7, scale=args.scale)
    listings = market.listings.assign(sleeve=market.listings["asset_class"])
    listings = listings[["symbol", "sleeve", "asset_class", "calendar"]]
    raw = market.bars(listings["symbol"], AS_OF - timedelta(days=LOOKBACK - 1), AS_OF)
    bars = validate_bars(raw)
    with tempfile.TemporaryDirectory() as root:
        write_parquet_atomic(bars, partition_path(root, "bars", AS_OF))
        timings = {}
        started = time.perf_counter()
        window = read_bar_window(LakeReader(root), listings["symbol"].tolist(), AS_OF, LOOKBACK)
        timings["read window (DuckDB)"] = time.perf_counter() - started
    started = time.perf_counter()
    health = classify_health(window, listings, AS_OF, LOOKBACK, FLOOR, HealthConfig())
    timings["classify health"] = time.perf_counter() - started
    started = time.perf_counter()
    ok = health.loc[health["status"] == "OK", "symbol"].tolist()
    panel = returns_panel(window, ok)
    timings["returns panel (own sessions)"] = time.perf_counter() - started
    started = time.perf_counter()
    calendars = dict(zip(listings["symbol"], listings["calendar"], strict=True))
    aligned = align_to_shared_sessions(wide_returns(panel), calendars)
    timings["wide + align to shared sessions"] = time.perf_counter() - started
    total = sum(timings.values())
    print(
        f"{len(listings)} listings x {LOOKBACK} days: {len(window):,} bars, {len(ok)} OK, "
        f"matrix {aligned.shape[0]} x {aligned.shape[1]}"
    )
    for name, seconds in timings.items():
        print(f"  {name:<34} {seconds:6.2f} s")
    print(f"  {'total':<34} {total:6.2f} s   (target <= 5 s: {'ok' if total <= 5 else 'MISSED'})")


if __name__ == "__main__":
    main()
