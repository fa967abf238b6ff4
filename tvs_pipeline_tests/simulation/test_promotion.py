"""The cutover evidence (tvs_pipeline/simulation/promotion.py) from out-of-sample ledgers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.simulation.promotion import promotion_day, promotion_summary


def ledger(days, net, turnover=0.0, cost=0.0, session=True) -> pd.DataFrame:
    n = len(days)
    return pd.DataFrame(
        {
            "date": pd.to_datetime(days),
            "net": net,
            "turnover": [turnover] * n if np.isscalar(turnover) else turnover,
            "cost": [cost] * n if np.isscalar(cost) else cost,
            "session": [session] * n if np.isscalar(session) else session,
        }
    )


def test_summary_by_hand_counts_sessions_only():
    days = ["2026-06-26", "2026-06-27", "2026-06-28", "2026-06-29"]  # Fri, Sat, Sun, Mon
    champion = ledger(
        days, [0.01, 0.0, 0.0, -0.02], [0.1, 0.0, 0.0, 0.3], [6e-5, 0, 0, 1.8e-4],
        [True, False, False, True],
    )  # fmt: skip
    challenger = ledger(days, [0.0] * 4)
    parity = pd.DataFrame({"jaccard": [1.0, 0.5]})
    out = promotion_summary(parity, champion, challenger, {"champion": "a", "challenger": "b"})
    out = out.set_index("role")
    r = np.array([0.01, -0.02])
    # By hand: two sessions (the weekend had none); 252 a year since no session is a weekend.
    assert out.loc["champion", "sessions"] == 2
    assert out.loc["champion", "total_return"] == pytest.approx(np.prod(1 + r) - 1, rel=1e-12)
    assert out.loc["champion", "sharpe"] == pytest.approx(
        r.mean() * 252 / (r.std(ddof=1) * np.sqrt(252)), rel=1e-12
    )
    assert out.loc["champion", "mean_turnover"] == pytest.approx(0.2)
    assert out.loc["champion", "cost_bps"] == pytest.approx(1.2)
    assert out.loc["champion", "mean_jaccard"] == 0.75
    assert np.isnan(out.loc["challenger", "sharpe"])  # zero volatility: undefined, not infinite
    assert out.loc["challenger", "engine"] == "b"


def test_a_ledger_without_its_columns_is_refused():
    bad = ledger(["2026-06-29"], [0.0]).drop(columns=["session"])
    with pytest.raises(DataError, match=r"champion track record lacks \['session'\]"):
        promotion_summary(pd.DataFrame({"jaccard": []}), bad, ledger(["2026-06-29"], [0.0]), {})


def test_promotion_day_uses_only_the_window_ending_its_day():
    days = pd.date_range("2026-06-01", "2026-06-30")
    daily = ledger(days, [0.01] * 30, 0.1)
    parity = pd.DataFrame({"date": days, "jaccard": [0.0] * 10 + [1.0] * 20})
    engines = {"champion": "htr_3_4", "challenger": "v4"}
    summary = promotion_day(parity, daily, daily, engines, date(2026, 6, 30), window=20)
    assert summary["sessions"].tolist() == [20, 20]  # 2026-06-11 .. 2026-06-30
    assert summary["mean_jaccard"].tolist() == [1.0, 1.0]  # the first ten days are outside
    np.testing.assert_allclose(summary["total_return"], [1.01**20 - 1] * 2, rtol=1e-12)
    early = promotion_day(None, daily, None, engines, date(2026, 6, 5), window=20)
    assert early["sessions"].tolist() == [5, 0] and early["mean_jaccard"].isna().all()
