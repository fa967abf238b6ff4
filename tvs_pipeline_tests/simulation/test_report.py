"""The performance report of a day (tvs_pipeline/simulation/report.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tvs_pipeline.simulation.report import report_day, report_directory


def _history() -> pd.DataFrame:
    days = pd.date_range("2026-06-26", periods=4, freq="D")  # Fri .. Mon
    net = [0.0, 0.0, 0.0, 0.02]
    return pd.DataFrame(
        {
            "date": days,
            "gross": net,
            "trading_cost": 0.0,
            "borrow": 0.0,
            "cost": 0.0,
            "net": net,
            "turnover": [0.0, 0.0, 0.0, 0.5],
            "equity": [1.0, 1.0, 1.0, 1.02],
            "gross_exposure": [0.0, 0.0, 0.0, 1.0],
            "net_exposure": [0.0, 0.0, 0.0, 1.0],
            "session": [False, False, False, True],
            "universe_return": [float("nan")] * 3 + [0.01],
        }
    )


def test_no_session_yet_is_an_empty_report():
    out = report_day(_history(), date(2026, 6, 28))
    assert out.empty and list(out.columns) == ["metric", "value"]


def test_the_report_of_a_day_uses_the_sessions_up_to_it_only():
    history = _history()
    out = report_day(history, date(2026, 6, 29)).set_index("metric")["value"]
    # By hand: one session (Monday) returning 2 %, the universe 1 %.
    assert out["sessions"] == 1.0 and out["equity"] == pytest.approx(1.02)
    assert out["total_return"] == pytest.approx(0.02)
    assert out["avg_gross_exposure"] == pytest.approx(1.0)
    later = pd.concat([history, history.tail(1).assign(date=pd.Timestamp("2026-06-30"))])
    again = report_day(later, date(2026, 6, 29)).set_index("metric")["value"]
    pd.testing.assert_series_equal(out, again)


def test_report_directory_names_role_and_range():
    path = report_directory("/r", "champion", date(2026, 6, 1), date(2026, 6, 30))
    assert path == Path("/r/champion/2026-06-01_2026-06-30")
