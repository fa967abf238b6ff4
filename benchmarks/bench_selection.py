"""Selection for 1,000 listings x 500 days: feature frame + clustering + htr_3_4 (target <= 2 s).

Listings come from the demo market (the first 1,000 listings with at least 90 returns at scale
1,100, LONG when the last 91 rows rose, SHORT otherwise), so the panel has real weekends, young
listings and mixed calendars. Each step is timed on its own (best of three), then ``select()``
end to end.

Usage: python benchmarks/bench_selection.py [--listings 1000] [--days 500]
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

import numpy as np
import pandas as pd

from tvs_pipeline.funnel.history import validate_bars
from tvs_pipeline.funnel.normalization import returns_panel, wide_returns
from tvs_pipeline.market.demo import DemoMarket
from tvs_pipeline.selection import SelectionParams, assign_clusters, build_features, select
from tvs_pipeline.selection.engines.htr import HtrSelector
from tvs_pipeline.selection.scoring import metric_probabilities
from tvs_pipeline.selection.vetoes import veto_table

AS_OF = date(2026, 6, 30)
TARGET = 2.0


def best_of(runs: int, step):
    """Smallest wall time of ``runs`` calls of ``step`` and its last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listings", type=int, default=1000)
    parser.add_argument("--days", type=int, default=500)
    args = parser.parse_args()
    market = DemoMarket(seed=7, scale=int(args.listings * 1.1))
    listings = market.listings
    bars = validate_bars(market.bars(listings["symbol"], AS_OF - timedelta(args.days - 1), AS_OF))
    returns = wide_returns(returns_panel(bars))
    returns = returns.loc[:, returns.notna().sum() >= 90].iloc[:, : args.listings]
    recent = returns.tail(91).sum()
    candidates = pd.DataFrame(
        {
            "symbol": returns.columns,
            "direction": np.where(recent.to_numpy() >= 0, "LONG", "SHORT"),
            "value_traded": np.exp(np.random.default_rng(7).uniform(14, 22, len(returns.columns))),
            "adx": np.random.default_rng(8).uniform(10, 50, len(returns.columns)),
        }
    )
    params = SelectionParams()
    timings = {}
    timings["feature frame"], features = best_of(
        3, lambda: build_features(returns, candidates, params.features)
    )
    timings["probabilities"], probabilities = best_of(3, lambda: metric_probabilities(features))
    timings["clustering (3 lookbacks, Ward)"], clusters = best_of(
        3, lambda: assign_clusters(returns, features, params.clustering, params.vetoes.min_obs)
    )
    frame = features.join(probabilities).assign(cluster=clusters)
    timings["htr_3_4 ladder"], selector = best_of(3, lambda: HtrSelector(params).fit(frame))
    timings["veto table (reasons)"], _ = best_of(3, lambda: veto_table(features, params.vetoes))
    total = sum(timings.values())
    end_to_end, decisions = best_of(3, lambda: select(returns, candidates, "htr_3_4"))
    print(
        f"{len(candidates)} listings x {len(returns)} days ({int(returns.notna().sum().sum()):,} "
        f"returns); {int(clusters.max())} clusters; ladder stage {selector.stage_}; "
        f"{int(decisions['selected'].sum())} selected"
    )
    for name, seconds in timings.items():
        print(f"  {name:<34} {seconds:6.3f} s")
    verdict = "ok" if total <= TARGET else "MISSED"
    print(f"  {'sum of steps':<34} {total:6.3f} s   (target <= {TARGET:.0f} s: {verdict})")
    print(f"  {'select() end to end':<34} {end_to_end:6.3f} s")


if __name__ == "__main__":
    main()
