"""The stored track record against both simulators, rebuilt from the lake's decisions.

Reads a home a backfill left (`bench_backfill.py --home DIR`), rebuilds the champion's trades
from its stored `allocation` books and the listings' session returns, runs them through the
vectorized simulator and cvxportfolio's, and prints the largest daily difference in net
return of each against the stored `simulation` ledger over the last ``--days`` days (the
target: within `simulation.cvx.AGREEMENT_TOLERANCE`), with the time each took.
Usage: python benchmarks/bench_track_record.py --home DIR [--days 250]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from tvs_pipeline.config import load_profile
from tvs_pipeline.defs.carry import session_returns
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.settings import load_settings
from tvs_pipeline.simulation import FrictionModel, simulate
from tvs_pipeline.simulation.cvx import AGREEMENT_TOLERANCE
from tvs_pipeline.simulation.track_record import session_matrix, stored_decisions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--days", type=int, default=250)
    args = parser.parse_args()
    settings = load_settings({"TVS_HOME": args.home})
    reader = LakeReader(settings.lake_root)
    friction = FrictionModel.from_config(load_profile(settings.profile).simulation)
    ledger = reader.read("simulation").sort_values("date").set_index("date")
    books = reader.read("allocation")
    days = ledger.index[-args.days :]
    # The whole record is replayed (a replay from mid-way would start from cash, not from the
    # drifted book with its entry prices), and its last ``--days`` days compared.
    decisions = stored_decisions(books)
    span = pd.date_range(decisions.index[0], days[-1], freq="D")
    returns = session_matrix(session_returns(reader, list(span.date)), span)
    returns = returns.reindex(columns=returns.columns.union(decisions.columns))
    sleeves = books.loc[books["kind"] == "physical"].drop_duplicates("symbol")
    rates = friction.borrow_rates(sleeves.set_index("symbol")["sleeve"])
    stored = ledger.loc[days, "net"]
    print(f"champion track record, last {len(days)} days ({days[0].date()} .. {days[-1].date()})")
    for simulator in ("vectorized", "cvxportfolio"):
        started = time.perf_counter()
        out = simulate(
            decisions, returns, friction=friction, borrow_bps_per_year=rates, simulator=simulator
        )
        elapsed = time.perf_counter() - started
        diff = (out["net"].reindex(days) - stored).abs()
        print(
            f"  {simulator:<12} {elapsed:6.2f} s   largest daily |Δ net| vs the stored ledger "
            f"{np.nanmax(diff.to_numpy()):.2e} (tolerance {AGREEMENT_TOLERANCE:.0e})"
        )


if __name__ == "__main__":
    main()
