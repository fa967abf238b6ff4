"""The performance report of a day (tvs_pipeline/simulation/report.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tvs_pipeline.market.point_in_time import SURVIVORSHIP
from tvs_pipeline.simulation.report import (
    report_day,
    report_directory,
    survivorship_caveat,
    survivorship_days,
)


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


# ------------------------------------------------------------ survivorship (issue 17)
def _discovered(flags: dict[str, object]) -> pd.DataFrame:
    """discovery's (date, point_in_time) rows, two rows a day as a partition has many."""
    days = [d for d in flags for _ in range(2)]
    return pd.DataFrame({"date": pd.to_datetime(days), "point_in_time": [flags[d] for d in days]})


@pytest.mark.parametrize(
    ("flags", "as_of", "expected"),
    [
        ({"2026-06-26": True, "2026-06-29": False}, "2026-06-29", 1.0),  # Friday rebuilt
        ({"2026-06-26": True, "2026-06-27": True, "2026-06-29": True}, "2026-06-29", 3.0),
        ({"2026-06-25": True, "2026-06-29": False}, "2026-06-29", None),  # before the span
        ({"2026-06-29": False, "2026-06-30": True}, "2026-06-29", None),  # after D
        ({"2026-06-26": None, "2026-06-29": False}, "2026-06-29", None),  # column absent then
    ],
    ids=["one-day", "every-day", "before-span", "after-d", "older-partition"],
)
def test_the_report_counts_the_days_of_its_span_discovered_point_in_time(flags, as_of, expected):
    """The span is the track record's first row (2026-06-26) to D; only its days count."""
    history, discovered = _history(), _discovered(flags)
    before = discovered.copy()
    out = report_day(history, date.fromisoformat(as_of), discovered).set_index("metric")
    plain = report_day(history, date.fromisoformat(as_of)).set_index("metric")
    if expected is None:
        assert "point_in_time_days" not in out.index
        pd.testing.assert_frame_equal(out, plain)
    else:
        assert out.loc["point_in_time_days", "value"] == expected
        pd.testing.assert_frame_equal(out.drop(index="point_in_time_days"), plain)
    pd.testing.assert_frame_equal(discovered, before)


def test_survivorship_days_and_the_caveat_by_hand():
    discovered = _discovered({"2026-06-01": True, "2026-06-02": True, "2026-06-30": False})
    days = survivorship_days(discovered, date(2026, 6, 1), date(2026, 6, 30))
    assert days == [date(2026, 6, 1), date(2026, 6, 2)]
    assert survivorship_caveat(days) == (
        "2 days from 2026-06-01 to 2026-06-02 discovered point in time: " + SURVIVORSHIP
    )
    assert survivorship_caveat(days[:1]).startswith("1 day on 2026-06-01 discovered")
    assert "delisted before today are absent (survivorship)" in survivorship_caveat(days)
    assert survivorship_caveat([]) == ""
