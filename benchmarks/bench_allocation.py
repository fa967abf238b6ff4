"""Allocation for 50 atoms x 500 days: every engine x profile, two passes (target <= 20 s).

Returns are seeded synthetic with a factor structure (one market factor, one factor per
cluster, idiosyncratic noise) and a positive drift, so ``max_sharpe`` is feasible; the atoms
fall in 10 clusters of 5. Each supported engine x profile pair is solved twice: plain
(``max_weight`` 0.1) and constrained (also the clusters with a ``cluster_cap`` of 0.2). Each
is timed as the best of three after one warm-up call (the warm-up absorbs lazy imports, e.g.
the custom engine's cvxpy). ``barbell`` gets seeded random scores. Pairs an engine does not
offer show "—"; a failed solve shows FAILED with its error's first line.

The first-call import cost of each engine (``make_engine(name)`` after numpy, pandas and the
registry are imported) is timed apart, in a fresh subprocess per engine, and is not part of
the grid sum checked against the target.

BLAS is pinned to one thread (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS`` set to 1 in ``os.environ`` before numpy is imported, inherited by the
subprocesses), so the timings do not depend on the machine's core count.

Usage: python benchmarks/bench_allocation.py [--atoms 50] [--days 500] [--clusters 10]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tvs_pipeline.allocation.profiles import PROFILES  # noqa: E402
from tvs_pipeline.allocation.solver import solve_allocation  # noqa: E402

try:
    from tvs_pipeline.allocation.engines import make_engine, supported_profiles
except ImportError:
    from tvs_pipeline.allocation.engines import make_engine, supported_profiles

ENGINE_NAMES = ("custom", "skfolio", "riskfolio", "pyportfolioopt", "cvxportfolio")
TARGET = 20.0
MAX_WEIGHT = 0.1
CLUSTER_CAP = 0.2
RUNS = 3

# Run in a fresh interpreter: numpy, pandas and the registry first, then make_engine timed.
IMPORT_PROBE = """
import sys, time
import numpy, pandas
try:
    from tvs_pipeline.allocation.engines import make_engine
except ImportError:
    from tvs_pipeline.allocation.engines import make_engine
started = time.perf_counter()
make_engine(sys.argv[1])
print(time.perf_counter() - started)
"""


def best_of(runs: int, step):
    """Smallest wall time of ``runs`` calls of ``step`` and its last result."""
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - started)
    return best, result


def first_line(err: BaseException) -> str:
    """``Type: first line of the message``."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def synthetic(atoms: int, days: int, clusters: int, seed: int = 11):
    """Returns (dates x atoms), cluster ids and selection scores, all seeded."""
    rng = np.random.default_rng(seed)
    names = [f"A{i:02d}" for i in range(atoms)]
    cluster = np.arange(atoms) % clusters
    market = rng.normal(0.0004, 0.010, days)
    factors = rng.normal(0.0, 0.007, (days, clusters))
    beta = rng.uniform(0.6, 1.4, atoms)
    loading = rng.uniform(0.5, 1.5, atoms)
    drift = rng.uniform(0.0001, 0.0008, atoms)
    noise = rng.normal(0.0, 1.0, (days, atoms)) * rng.uniform(0.006, 0.02, atoms)
    values = drift + market[:, None] * beta + factors[:, cluster] * loading + noise
    index = pd.bdate_range("2024-01-01", periods=days, name="date")
    returns = pd.DataFrame(values, index=index, columns=names)
    clusters_s = pd.Series(cluster, index=names, name="cluster")
    scores = pd.Series(rng.uniform(0.0, 1.0, atoms), index=names, name="score")
    return returns, clusters_s, scores


def import_cost(name: str) -> str:
    """``make_engine(name)`` seconds in a fresh interpreter, or the failure's last line."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, name], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return f"FAILED  {lines[-1] if lines else f'exit {done.returncode}'}"
    return f"{float(done.stdout.strip().splitlines()[-1]):6.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--atoms", type=int, default=50)
    parser.add_argument("--days", type=int, default=500)
    parser.add_argument("--clusters", type=int, default=10)
    args = parser.parse_args()
    returns, clusters, scores = synthetic(args.atoms, args.days, args.clusters)
    passes = {
        "plain": {"max_weight": MAX_WEIGHT},
        "constrained": {
            "max_weight": MAX_WEIGHT,
            "clusters": clusters,
            "cluster_cap": CLUSTER_CAP,
        },
    }
    print(
        f"{args.atoms} atoms x {args.days} days, {args.clusters} clusters; max_weight "
        f"{MAX_WEIGHT}, cluster_cap {CLUSTER_CAP} (constrained); best of {RUNS} after a "
        f"warm-up; BLAS pinned to 1 thread"
    )

    print("\nfirst-call import cost, make_engine(name) in a fresh interpreter:")
    for name in ENGINE_NAMES:
        print(f"  {name:<16} {import_cost(name)}")

    print(f"\n  {'engine':<16} {'profile':<20} {'plain':>9} {'constrained':>12}  notes")
    total, solved, failed = 0.0, 0, 0
    for name in ENGINE_NAMES:
        try:
            engine = make_engine(name)
            offered = supported_profiles(engine)
        except Exception as err:
            print(f"  {name:<16} {'(all)':<20} {'FAILED':>9} {'FAILED':>12}  {first_line(err)}")
            failed += 1
            continue
        for profile in PROFILES:
            if profile not in offered:
                print(f"  {name:<16} {profile:<20} {'—':>9} {'—':>12}")
                continue
            cells, notes = [], []
            for label, options in passes.items():

                def solve(engine=engine, profile=profile, options=options):
                    return solve_allocation(returns, engine, profile, scores=scores, **options)

                try:
                    solve()
                    seconds, allocation = best_of(RUNS, solve)
                except Exception as err:
                    cells.append("FAILED")
                    notes.append(f"{label}: {first_line(err)}")
                    failed += 1
                    continue
                total += seconds
                solved += 1
                cells.append(f"{seconds:7.3f} s")
                if allocation.projected:
                    notes.append(f"{label} projected: {allocation.projected}")
            row = f"  {name:<16} {profile:<20} {cells[0]:>9} {cells[1]:>12}  {'; '.join(notes)}"
            print(row.rstrip())

    verdict = "ok" if total <= TARGET else "MISSED"
    skipped = f", {failed} failed not counted" if failed else ""
    print(
        f"\n  {'sum over the grid':<37} {total:7.3f} s   ({solved} solves{skipped}; "
        f"target <= {TARGET:.0f} s: {verdict})"
    )


if __name__ == "__main__":
    main()
