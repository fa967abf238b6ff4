"""Methodology §8.2's demo veto rates and §8.4's AUCs, re-derived on the demo market.

On ``DemoMarket(seed)`` for each seed, the demo profile's funnel runs on 12 quarter-ends from
2024-09-30 (`strategy_truth.decisions`: scan, bars, health, enrichment, dedup, the OK listings'
panel, the champion engine), and the trend logic's candidates with at least 60 returns are
kept (§8.2's sample; the trend vetoes and weights are what §8.2 and §8.4 calibrate). Prints:

- §8.2: per planted kind, the candidates and the share vetoed at the strict thresholds (any
  veto, hard or soft); for own-direction trends, the share let through;
- §8.4: the AUC of each metric's probability ``p_<metric>`` (own-direction trends against random
  walks, higher = more trend-like), then of the Log-MPS conviction (``score``), of Log-MPS with
  every trend weight 1, and of CARS 2.1 on the same probabilities.

Re-runnable: the demo market is read as it stands (new sleeves change the sample); ``--save``
keeps the decisions for a re-print with ``--load``.
Usage: python benchmarks/selection_truth.py [--seeds 7 11 23] [--days 12] [--save FILE]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from strategy_truth import FIRST_QUARTER_END, decisions

from tvs_pipeline.selection.scoring import ConvictionWeights, cars_score, log_mps_score

MIN_RETURNS = 60
KINDS = ("random_walk", "trend_against", "factor", "mean_revert", "rated", "trend")
METRICS = ("efficiency", "momentum", "hurst", "stability", "survival", "entropy", "adx",
           "antifragility", "kurtosis", "liquidity", "fragility")  # fmt: skip


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores above a negative), ties half (the Mann-Whitney U over n+ n-)."""
    if not len(positive) or not len(negative):
        return float("nan")
    ranks = rankdata(np.concatenate([positive, negative]))
    u = ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2
    return float(u / (len(positive) * len(negative)))


def sample(frame: pd.DataFrame) -> pd.DataFrame:
    """§8.2's sample: the trend logic's candidates with at least ``MIN_RETURNS`` returns."""
    trend = frame.loc[(frame["logic"] == "trend") & (frame["n_obs"] >= MIN_RETURNS)]
    return trend.assign(vetoed=trend["vetoes"].map(len) > 0)


def veto_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Per planted kind: candidates, share vetoed, share let through."""
    rows = {}
    for kind in KINDS:
        part = frame.loc[frame["planted"] == kind]
        rows[kind] = {"candidates": len(part), "vetoed": part["vetoed"].mean()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table.assign(passed=1.0 - table["vetoed"])


def aucs(frame: pd.DataFrame) -> pd.Series:
    """AUC of each probability and score: own-direction trends against random walks."""
    trends = frame["planted"] == "trend"
    walks = frame["planted"] == "random_walk"
    probabilities = frame[[c for c in frame.columns if c.startswith("p_")]].astype(float)
    ones = {name: 1.0 for name, weight in ConvictionWeights().model_dump().items() if weight > 0}
    scores = {
        **{f"p_{m}": probabilities[f"p_{m}"] for m in METRICS},
        "conviction (score)": frame["score"].astype(float),
        "log-mps, every weight 1": log_mps_score(probabilities, ones),
        "cars_2_1": cars_score(probabilities),
    }
    return pd.Series(
        {name: auc(s[trends].to_numpy(), s[walks].to_numpy()) for name, s in scores.items()}
    )


def main() -> None:
    """Print §8.2's veto rates and §8.4's AUCs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 23])
    parser.add_argument("--days", type=int, default=12)
    parser.add_argument("--engine", default="htr_3_4")
    parser.add_argument("--save", default=None, help="keep the decisions in this Parquet file")
    parser.add_argument("--load", default=None, help="print from decisions kept with --save")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.load:
        frame = pd.read_parquet(args.load)
    else:
        frames = [decisions(seed, args.engine, args.days).assign(seed=seed) for seed in args.seeds]
        frame = pd.concat(frames, ignore_index=True)
        if args.save:
            frame.assign(vetoes=frame["vetoes"].map(list)).drop(columns=["alternates"],
                                                                errors="ignore").to_parquet(
                args.save
            )  # fmt: skip
    trend = sample(frame)
    pd.set_option("display.width", 200)
    print(
        f"DemoMarket seeds {sorted(set(frame['seed']))}, {args.engine}, {args.days} quarter-ends "
        f"from {FIRST_QUARTER_END}; trend candidates with >= {MIN_RETURNS} returns: {len(trend)} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    print("\n§8.2 veto rates by planted kind (strict thresholds, any veto):")
    print(veto_rates(trend).to_string(formatters={"vetoed": "{:.1%}".format,
                                                  "passed": "{:.1%}".format}))  # fmt: skip
    print("\n§8.4 AUC, own-direction trends against random walks:")
    print(aucs(trend).round(3).to_string())


if __name__ == "__main__":
    main()
