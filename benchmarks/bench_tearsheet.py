"""The tear sheet of a 500-day track record with 40 listings of weights (target <= 5 s).

Usage: python benchmarks/bench_tearsheet.py [--days 500] [--listings 40] [--repeat 3]
"""

from __future__ import annotations

import os

# One BLAS thread, as on a busy 2-core worker: set before numpy is imported.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

TARGET_SECONDS = 5.0


def synthetic_ledger(days: int, seed: int = 0) -> pd.DataFrame:
    """A track record of ``days`` calendar days; weekdays are sessions (the contract's columns)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days, freq="D").as_unit("ns")
    session = dates.day_of_week < 5
    universe = np.where(session, rng.normal(0.0003, 0.01, days), np.nan)
    turnover = np.where(session, rng.exponential(0.1, days), 0.0)
    trading_cost = turnover * 0.0006
    borrow = np.where(session, 0.00002, 0.0)
    cost = trading_cost + borrow
    gross = np.where(session, 0.8 * np.nan_to_num(universe) + rng.normal(0.0002, 0.006, days), 0)
    net = gross - cost
    return pd.DataFrame(
        {
            "date": dates,
            "gross": gross,
            "trading_cost": trading_cost,
            "borrow": borrow,
            "cost": cost,
            "net": net,
            "turnover": turnover,
            "equity": np.cumprod(1.0 + net),
            "long_exposure": np.where(session, 1.1, 0.0),
            "short_exposure": np.where(session, -0.3, 0.0),
            "gross_exposure": np.where(session, 1.4, 0.0),
            "net_exposure": np.where(session, 0.8, 0.0),
            "session": session,
            "rebalanced": session,
            "universe_return": universe,
            "decided_on": dates - pd.Timedelta(days=1),
        }
    )


def synthetic_weights(dates: pd.DatetimeIndex, listings: int, seed: int = 1) -> pd.DataFrame:
    """Long-form books [date, symbol, net_weight]: each day a random 12 of ``listings``."""
    rng = np.random.default_rng(seed)
    symbols = np.array([f"EX:L{i:02d}" for i in range(listings)])
    rows = []
    for day in dates:
        chosen = rng.choice(symbols, size=min(12, listings), replace=False)
        weight = rng.dirichlet(np.ones(len(chosen))) * 1.1
        weight[-3:] *= -0.3  # a few shorts
        rows.append(pd.DataFrame({"date": day, "symbol": chosen, "net_weight": weight}))
    return pd.concat(rows, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=500)
    parser.add_argument("--listings", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    import matplotlib.figure  # noqa: F401  (its import is part of a cold render)

    from tvs_pipeline.simulation.tearsheet import render_tearsheet

    imported = time.perf_counter() - started
    ledger = synthetic_ledger(args.days)
    weights = synthetic_weights(pd.DatetimeIndex(ledger["date"]), args.listings)
    timings = []
    with tempfile.TemporaryDirectory() as folder:
        for attempt in range(args.repeat):
            started = time.perf_counter()
            sheet = render_tearsheet(
                ledger, weights, title="bench", directory=Path(folder) / str(attempt)
            )
            timings.append(time.perf_counter() - started)
        sizes = {name: path.stat().st_size // 1024 for name, path in sheet.pngs.items()}
    cold = imported + timings[0]
    print(f"ledger {args.days} rows, weights {len(weights)} rows of {args.listings} listings")
    print(f"imports (tvs_pipeline + matplotlib): {imported:.2f} s")
    runs = ", ".join(f"{t:.2f} s" for t in timings)
    print(f"render: {runs} (the first with the imports: {cold:.2f} s)")
    print(f"PNG sizes (KiB): {sizes}; markdown {len(sheet.markdown) // 1024} KiB")
    verdict = "OK" if cold <= TARGET_SECONDS else "SLOW"
    print(f"{verdict}: cold render {cold:.2f} s against a target of {TARGET_SECONDS:.0f} s")


if __name__ == "__main__":
    main()
