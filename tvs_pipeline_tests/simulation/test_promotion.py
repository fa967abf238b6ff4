from datetime import date

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.simulation.promotion import (
    last_day_returns,
    promotion_day,
    promotion_summary,
    sessions_per_year,
)


def ledger(day, rows):
    dates = pd.to_datetime([d for d, _, _ in rows])
    return pd.DataFrame(
        {
            "date": pd.Timestamp(day),
            "market_date": dates,
            "net_return": [r for _, r, _ in rows],
            "turnover": [t for _, _, t in rows],
        }
    )


def test_each_partition_contributes_its_own_day():
    ledgers = pd.concat(
        [
            ledger("2026-06-29", [("2026-06-26", 0.5, 0.0), ("2026-06-29", 0.01, 0.1)]),
            ledger("2026-06-30", [("2026-06-29", 0.9, 0.0), ("2026-06-30", -0.02, 0.0)]),
        ]
    )
    daily = last_day_returns(ledgers)
    assert daily["net_return"].tolist() == [0.01, -0.02]
    assert daily["turnover"].tolist() == [0.1, 0.0]


def test_summary_by_hand():
    champion = pd.DataFrame(
        {"date": [1, 2, 3], "net_return": [0.01, -0.02, 0.03], "turnover": [0.1, 0.0, 0.2]}
    )
    challenger = pd.DataFrame(
        {"date": [1, 2, 3], "net_return": [0.0, 0.0, 0.0], "turnover": [0.0, 0.0, 0.0]}
    )
    parity = pd.DataFrame({"jaccard": [1.0, 0.5, 0.75]})
    out = promotion_summary(
        parity, champion, challenger, {"champion": "a", "challenger": "b"}, 252
    ).set_index("role")
    r = np.array([0.01, -0.02, 0.03])
    np.testing.assert_allclose(out.loc["champion", "total_return"], np.prod(1 + r) - 1, rtol=1e-12)
    np.testing.assert_allclose(
        out.loc["champion", "sharpe"], r.mean() / r.std(ddof=1) * np.sqrt(252), rtol=1e-12
    )
    np.testing.assert_allclose(out.loc["champion", "mean_turnover"], 0.1, rtol=1e-12)
    assert out.loc["champion", "mean_jaccard"] == 0.75
    assert np.isnan(out.loc["challenger", "sharpe"])  # zero volatility: undefined, not infinite
    assert out.loc["challenger", "engine"] == "b" and out.loc["champion", "days"] == 3


def test_sessions_per_year_and_errors():
    weekday = ledger("2026-06-30", [("2026-06-29", 0.0, 0.0)])
    weekend = ledger("2026-06-28", [("2026-06-27", 0.0, 0.0)])
    assert sessions_per_year(weekday) == 252 and sessions_per_year(weekend) == 365
    assert sessions_per_year(None) == 252
    with pytest.raises(DataError, match="lack \\['turnover'\\]"):
        last_day_returns(weekday.drop(columns=["turnover"]))


def test_promotion_day_uses_only_the_window_ending_its_day():
    days = pd.date_range("2026-06-01", "2026-06-30")
    # one ledger row per partition: the book held over that day, returning 1 % a day
    ledgers = pd.concat(
        [ledger(day, [(day.strftime("%Y-%m-%d"), 0.01, 0.1)]) for day in days], ignore_index=True
    )
    parity = pd.DataFrame({"date": days, "jaccard": [0.0] * 10 + [1.0] * 20})
    daily = last_day_returns(ledgers)
    engines = {"champion": "htr_3_4", "challenger": "v4"}
    summary = promotion_day(parity, daily, daily, ledgers, engines, date(2026, 6, 30), window=20)
    assert summary["days"].tolist() == [20, 20]  # 2026-06-11 .. 2026-06-30
    assert summary["mean_jaccard"].tolist() == [1.0, 1.0]  # the first ten days are outside
    np.testing.assert_allclose(summary["total_return"], [1.01**20 - 1] * 2, rtol=1e-12)
    early = promotion_day(None, daily, daily, ledgers, engines, date(2026, 6, 5), window=20)
    assert early["days"].tolist() == [5, 5] and early["mean_jaccard"].isna().all()
