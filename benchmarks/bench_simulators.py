"""The vectorized simulator against cvxportfolio's back-test: 250 days x 30 listings.

A seeded long/short book (weights in [−0.1, 0.15], a decision every 21 business days, 3 % of
sessions missing) with 6 bps of friction and 200 bps a year of borrow is run by `simulate`
and by `simulate_cvxportfolio`; each is timed as the best of ``--repeat`` runs after one
warm-up (which absorbs cvxportfolio's import, timed apart). Prints the times and the largest
daily difference of ``net`` (and of every other float column), against
``AGREEMENT_TOLERANCE``.

BLAS is pinned to one thread (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS`` set to 1 before numpy is imported), so the timings do not depend on the
machine's core count.

Usage: python benchmarks/bench_simulators.py [--days 250] [--listings 30] [--repeat 3]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tvs_pipeline.simulation.cvx import AGREEMENT_TOLERANCE, simulate_cvxportfolio  # noqa: E402
from tvs_pipeline.simulation.friction import FrictionModel  # noqa: E402
from tvs_pipeline.simulation.simulator import SHORT_STOP, simulate  # noqa: E402

FRICTION = FrictionModel(slippage_bps=5.0, commission_bps=1.0)
BORROW_BPS = 200.0
SEED = 7


def book(days: int, listings: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded returns (business days, some sessions missing) and a monthly long/short book."""
    rng = np.random.default_rng(SEED)
    index = pd.bdate_range("2025-01-01", periods=days)
    names = [f"L{i:03d}" for i in range(listings)]
    returns = pd.DataFrame(rng.normal(3e-4, 0.01, (days, listings)), index=index, columns=names)
    returns = returns.mask(rng.random(returns.shape) < 0.03)
    dates = index[::21][:-1]
    weights = pd.DataFrame(
        rng.uniform(-0.1, 0.15, (len(dates), listings)), index=dates, columns=names
    )
    return weights, returns


def best_of(repeat: int, run) -> tuple[float, pd.DataFrame]:
    """Best wall time of ``repeat`` calls after one warm-up, and the last result."""
    result = run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--listings", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    weights, returns = book(args.days, args.listings)
    prices = (1.0 + returns.fillna(0.0)).cumprod()
    stoppable = bool(((prices / prices.cummin()).max() >= SHORT_STOP).any())

    started = time.perf_counter()
    import cvxportfolio  # noqa: F401

    import_time = time.perf_counter() - started
    vectorized_time, vectorized = best_of(
        args.repeat,
        lambda: simulate(weights, returns, friction=FRICTION, borrow_bps_per_year=BORROW_BPS),
    )
    cvx_time, cvx = best_of(
        args.repeat, lambda: simulate_cvxportfolio(weights, returns, FRICTION, BORROW_BPS)
    )

    print(
        f"{args.days} days x {args.listings} listings, {len(weights)} decisions, "
        f"{len(vectorized)} ledger rows (a short could be stopped: {stoppable})"
    )
    print(f"  vectorized      {vectorized_time:8.3f} s")
    print(f"  cvxportfolio    {cvx_time:8.3f} s   (+ {import_time:.2f} s import, once)")
    print(f"  ratio           {cvx_time / vectorized_time:8.1f} x")
    floats = [c for c in vectorized.columns if vectorized[c].dtype.kind == "f"]
    gaps = (cvx[floats] - vectorized[floats]).abs().max()
    tolerance = f"AGREEMENT_TOLERANCE {AGREEMENT_TOLERANCE:g}"
    print(f"  largest daily |Δ net|: {gaps['net']:.2e} ({tolerance})")
    print("  largest |Δ| by column: " + ", ".join(f"{c} {v:.1e}" for c, v in gaps.items()))
    print(
        f"  final equity: vectorized {vectorized['equity'].iloc[-1]:.12f}, "
        f"cvxportfolio {cvx['equity'].iloc[-1]:.12f}"
    )


if __name__ == "__main__":
    main()
