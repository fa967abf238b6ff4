"""Issue 15's ground truth: does each logic select its own planted listings on the demo market?

On ``DemoMarket(seed)`` the demo profile's funnel (scan, bars, health, enrichment, dedup, the
returns panel of the OK listings, exactly as the asset graph builds them, without Dagster) runs
on 12 quarter-ends from 2024-09-30; the champion engine decides every candidate. For each logic
the table shows, per planted kind (`DemoMarket.ground_truth`), its share of the logic's
candidates (the base rate: what choosing at random among them would hit) and of the logic's
selections (the hit rate), and the lift (hit / base).

Usage: python benchmarks/strategy_truth.py [--seed 7] [--engine htr_3_4] [--days 12]
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta

import pandas as pd

from tvs_pipeline.config import load_profile
from tvs_pipeline.market.demo import DemoMarket
from tvs_pipeline.selection import select
from tvs_pipeline.selection.truth import PLANTED_KINDS, planted_kind, truth_table

FIRST_QUARTER_END = date(2024, 9, 30)


def quarter_ends(first: date, count: int) -> list[date]:
    """``count`` quarter-ends from ``first`` (a quarter-end)."""
    ends = pd.date_range(first, periods=count, freq="QE")
    return [day.date() for day in ends]


def funnel_day(market: DemoMarket, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The returns panel and dedup's candidates of ``day``, as the asset graph builds them."""
    from tvs_pipeline.funnel.dedup import dedup_day
    from tvs_pipeline.funnel.discovery import discover
    from tvs_pipeline.funnel.enrichment import enrich
    from tvs_pipeline.funnel.health import classify_health
    from tvs_pipeline.funnel.history import validate_bars
    from tvs_pipeline.funnel.normalization import returns_panel, wide_returns
    from tvs_pipeline.selection.day import CANDIDATE_NAMES

    profile = load_profile("demo")
    run = profile.run
    found = discover(market, profile.scanners, day)
    start = day - timedelta(days=run.lookback_days - 1)
    bars = validate_bars(market.bars(found["symbol"].unique().tolist(), start, day))
    listings = found.drop_duplicates("symbol")[["symbol", "sleeve", "asset_class", "calendar"]]
    health = classify_health(
        bars, listings, day, run.lookback_days, run.history_floor, profile.health
    )
    features = enrich(found, health, bars, day)
    candidates = dedup_day(found, features).rename(columns=CANDIDATE_NAMES)
    ok = features.loc[features["status"] == "OK", "symbol"].tolist()
    return wide_returns(returns_panel(bars, ok)), candidates


def decisions(seed: int, engine: str, days: int) -> pd.DataFrame:
    """Every candidate of every day with its decision and planted kind (`planted_kind`)."""
    market = DemoMarket(seed=seed)
    kind = market.ground_truth().set_index("symbol")["kind"]
    frames = []
    for day in quarter_ends(FIRST_QUARTER_END, days):
        returns, candidates = funnel_day(market, day)
        out = select(returns, candidates, engine)
        frames.append(out.assign(day=day, planted=planted_kind(out, kind)))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    """Print the logic x planted-kind table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--engine", default="htr_3_4")
    parser.add_argument("--days", type=int, default=12)
    args = parser.parse_args()
    table = truth_table(decisions(args.seed, args.engine, args.days))
    pd.set_option("display.width", 200)
    counts = table[["candidates", "selected"]].astype(int)
    print(f"DemoMarket(seed={args.seed}), {args.engine}, {args.days} quarter-ends from "
          f"{FIRST_QUARTER_END}")  # fmt: skip
    print(counts.to_string())
    for what in ("base", "hit", "lift"):
        print(f"\n{what}: share of the logic's {'candidates' if what == 'base' else 'selections'}"
              if what != "lift" else "\nlift: hit / base")  # fmt: skip
        print(
            table[[f"{kind} {what}" for kind in PLANTED_KINDS]].astype(float).round(3).to_string()
        )


if __name__ == "__main__":
    main()
