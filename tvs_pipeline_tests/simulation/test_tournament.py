"""The tournament's pure parts (tvs_pipeline/simulation/tournament.py); the walk-forward itself
runs on a demo lake in tvs_pipeline_tests/defs/test_tournament.py."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.simulation import tournament
from tvs_pipeline.simulation.tournament import (
    Grid,
    code_fingerprint,
    rebalance_dates,
    regime_board,
)


def _board(rows):
    return pd.DataFrame(
        [
            {"strategy": s, "engine": e, "profile": p, "simulator": "vectorized", "status": "ok"}
            for s, e, p in rows
        ]
    )


def test_each_regime_proposes_the_profile_that_did_best_in_its_sessions():
    days = pd.date_range("2026-01-01", periods=41, freq="D")
    rng = np.random.default_rng(5)
    noise = rng.normal(0.0, 0.01, (40, 2))
    # Sessions 1..20 follow NORMAL closes, 21..40 CRISIS closes (day 0 is the first close).
    calm, crisis = np.arange(40) < 20, np.arange(40) >= 20
    a = noise[:, 0] + np.where(calm, 0.01, -0.01)  # earns in calm, loses in crisis
    b = noise[:, 1] + np.where(crisis, 0.01, -0.01)
    returns = pd.concat(
        [
            pd.DataFrame({"strategy": "s/custom/max_sharpe", "date": days[1:], "net": a}),
            pd.DataFrame({"strategy": "s/custom/min_variance", "date": days[1:], "net": b}),
            pd.DataFrame({"strategy": "s/equal/selected", "date": days[1:], "net": a + b}),
        ]
    )
    regimes = pd.Series(["NORMAL"] * 20 + ["CRISIS"] * 21, index=days)
    board = _board(
        [
            ("s/custom/max_sharpe", "custom", "max_sharpe"),
            ("s/custom/min_variance", "custom", "min_variance"),
            ("s/equal/selected", "equal", "selected"),
        ]
    )
    table = regime_board(returns, regimes, board)
    proposed = table.loc[table["proposed"]].set_index("regime")["profile"].to_dict()
    assert proposed == {"NORMAL": "max_sharpe", "CRISIS": "min_variance"}
    # By hand: the session after the 20th NORMAL close is the first credited to CRISIS.
    assert table.groupby("regime")["sessions"].first().to_dict() == {"CRISIS": 20, "NORMAL": 20}
    assert "selected" not in set(table["profile"])  # a reference book, not a profile
    calm_sharpe = a[calm].mean() / a[calm].std(ddof=1)
    row = table.loc[(table["regime"] == "NORMAL") & (table["profile"] == "max_sharpe")]
    assert row["sharpe"].iloc[0] == calm_sharpe


def test_rebalance_dates_fall_on_the_session_grid():
    days = [date(2026, 6, d) for d in range(1, 31)]
    picked = rebalance_dates(days, ["24/7"], 10)
    # By hand: 24/7 sessions are numbered from 2015-01-01; every 10th.
    assert picked == [d for d in days if (d - date(2015, 1, 1)).days % 10 == 0]
    weekdays = rebalance_dates(days, ["XNYS"], 5)
    assert all(d.weekday() < 5 for d in weekdays) and len(weekdays) in (4, 5)


def test_a_days_place_on_the_grid_reads_only_its_own_calendars():
    """An equity sleeve that appears in April leaves the crypto-only dates before it as the
    24/7 grid has them, and April's dates are the mixed grid's: no date moves because of a
    calendar seen later."""
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(120)]
    april = date(2026, 4, 1)
    calendars = {d: ["24/7"] if d < april else ["24/7", "XNYS"] for d in days}
    picked = rebalance_dates(days, calendars, 10)
    before = [d for d in days if d < april]
    after = [d for d in days if d >= april]
    assert [d for d in picked if d < april] == rebalance_dates(before, ["24/7"], 10)
    assert [d for d in picked if d >= april] == rebalance_dates(after, ["24/7", "XNYS"], 10)
    # The range's union instead would have put January on the mixed grid.
    assert rebalance_dates(before, ["24/7", "XNYS"], 10) != rebalance_dates(before, ["24/7"], 10)


def test_grid_cells_are_the_product():
    grid = Grid(("a", "b"), ("custom",), ("min_variance", "hrp"))
    assert grid.cells() == [
        ("a", "custom", "min_variance"),
        ("a", "custom", "hrp"),
        ("b", "custom", "min_variance"),
        ("b", "custom", "hrp"),
    ]


@pytest.mark.parametrize(
    "rule",
    ["selection/vetoes.py", "allocation/rebalance.py", "synthesis/positions.py", "indicators.py"],
    ids=["a-veto", "the-signal-rule", "a-position-rule", "the-rating-votes"],
)
def test_the_books_key_follows_the_code_that_decides_them(tmp_path, rule):
    package = Path(tournament.__file__).resolve().parents[1]
    copy = tmp_path / "tvs_pipeline"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert code_fingerprint(copy) == code_fingerprint()
    (copy / "cli.py").write_text("# not a deciding module\n")
    assert code_fingerprint(copy) == code_fingerprint()
    changed = copy / rule
    changed.write_text(changed.read_text() + "\n# a changed rule\n")
    changed = code_fingerprint.__wrapped__(copy)  # the cache holds the earlier answer
    assert changed != code_fingerprint()
