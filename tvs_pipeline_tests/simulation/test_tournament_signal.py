"""The tournament's cells between rebalance dates: re-signed on a flip, by logic, in parallel.

A hand-built market of two 24/7 listings: ``T:MR`` (a mean-reversion candidate whose log price
is a sine of period 30 days) and ``T:TR`` (a trend candidate, a straight line). The ``baseline``
engine selects every candidate, so each book is known by hand: both atoms at 1/2 (or one atom at
1 in a cell restricted to one logic). Between the rebalance dates the mean-reversion atom's side
is re-derived here with a plain loop over its log closes.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.allocation.params import AllocationParams
from tvs_pipeline.parallel import map_calls
from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.simulation.friction import FrictionModel
from tvs_pipeline.simulation.tournament import (
    DayData,
    Grid,
    held_sides,
    run_tournament,
    strategy_name,
)

DAYS = pd.date_range("2026-01-01", periods=120, freq="D")
T1, T2 = 60, 90  # the rebalance dates, as indexes of DAYS
LOG_PRICE = {
    "T:MR": 0.1 * np.sin(2 * np.pi * np.arange(120) / 30),
    "T:TR": 0.002 * np.arange(120),
}
WINDOW = 20  # the mean-reversion level's closes (§9)


def _panel() -> pd.DataFrame:
    rows = [
        pd.DataFrame({"symbol": s, "market_date": DAYS[1:], "ret": np.expm1(np.diff(lp))})
        for s, lp in LOG_PRICE.items()
    ]
    return pd.concat(rows, ignore_index=True)


PANEL = _panel()
DEDUP = pd.DataFrame(
    {
        "symbol": ["T:MR", "T:TR"],
        "direction": "LONG",
        "logic": ["mean_reversion", "trend"],
        "sleeve": "crypto",
        "calendar": "24/7",
        "timescale": [5, 20],
    }
)


def _load_day(day: date) -> DayData:
    panel = PANEL.loc[PANEL["market_date"] <= pd.Timestamp(day)].reset_index(drop=True)
    return DayData(panel=panel, dedup=DEDUP, market=pd.DataFrame())


def _inputs(**changes):
    returns = PANEL.pivot(index="market_date", columns="symbol", values="ret")
    returns = returns.loc[returns.index >= DAYS[T1]]
    returns.index.name, returns.columns.name = None, None
    inputs = {
        "dates": [DAYS[T1].date(), DAYS[T2].date()],
        "load_day": _load_day,
        "returns": returns,
        "universe": returns.mean(axis=1),
        "grid": Grid(("baseline",), ("custom",), ("equal_weight",), rerun=0),
        "selection": SelectionParams(),
        "allocation": AllocationParams(max_weight=1.0),
        "friction": FrictionModel(slippage_bps=5.0, commission_bps=1.0),
        "history": PANEL.loc[PANEL["market_date"] < DAYS[T1]],
    }
    return {**inputs, **changes}


def _hand_side(k: int) -> int:
    """Mean reversion at close k: short above the mean of the last 20 log closes, else long."""
    closes = LOG_PRICE["T:MR"][: k + 1]
    if len(closes) < WINDOW:
        return 1
    gap = closes[-1] - sum(closes[-WINDOW:]) / WINDOW
    return -1 if gap > 0 else 1


def _hand_books(mr_weight: float, tr_weight: float) -> pd.DataFrame:
    """The books by hand: decided at T1 and T2, re-signed the day the side differs from held."""
    rows, side = {}, None
    for k in range(T1, len(DAYS)):
        if k in (T1, T2) or _hand_side(k) != side:
            side = _hand_side(k)
            rows[DAYS[k]] = {"T:MR": mr_weight * side, "T:TR": tr_weight}
    frame = pd.DataFrame(rows).T.fillna(0.0)
    return frame.loc[:, (frame != 0).any()]


def test_a_cell_is_re_signed_the_day_a_held_atom_flips():
    result = run_tournament(**_inputs())
    expected = _hand_books(0.5, 0.5)
    # By hand: the sine crosses its 20-day mean twice a period; the span holds flips on both
    # sides of T2, and T2 itself is a decision, not a flip.
    flips = [d for d in expected.index if d not in (DAYS[T1], DAYS[T2])]
    assert len(flips) >= 3 and any(d < DAYS[T2] for d in flips) and any(d > DAYS[T2] for d in flips)
    for name in (strategy_name("baseline", "equal", "selected"), "baseline/custom/equal_weight"):
        got = result.decisions[name]
        pd.testing.assert_frame_equal(
            got,
            expected.reindex(columns=got.columns),
            check_freq=False,
            check_names=False,
            check_index_type=False,
        )
        row = result.board.set_index("strategy").loc[name]
        assert row["signal_rebalances"] == len(flips)
        assert row["rebalances"] == len(expected)
        assert json.loads(row["logic_shares"]) == {"mean_reversion": 0.5, "trend": 0.5}
        assert json.loads(row["timescale_shares"]) == {"20": 0.5, "5": 0.5}


def test_the_held_side_reads_nothing_after_its_day():
    inputs = _inputs()
    atoms = pd.DataFrame(
        {"atom_id": ["a"], "symbol": ["T:MR"], "logic": ["mean_reversion"], "direction": ["LONG"]}
    )
    sides = held_sides(atoms, inputs["returns"], inputs["history"])
    assert sides["a"].tolist() == [_hand_side(k) for k in range(T1, len(DAYS))]
    cut = DAYS[75]
    shocked = inputs["returns"].copy()
    shocked.loc[shocked.index > cut] = -shocked.loc[shocked.index > cut] * 3.0 + 0.02
    again = held_sides(atoms, shocked, inputs["history"])
    pd.testing.assert_series_equal(again.loc[:cut, "a"], sides.loc[:cut, "a"])
    assert not again["a"].equals(sides["a"])  # the shock moves the later sides
    base = run_tournament(**inputs)
    other = run_tournament(**{**inputs, "returns": shocked})
    for name, weights in base.decisions.items():
        pd.testing.assert_frame_equal(other.decisions[name].loc[:cut], weights.loc[:cut])


def test_a_cell_restricted_to_one_logic_holds_only_its_atoms():
    grid = Grid(
        ("baseline",), ("custom",), ("equal_weight",), 0, ("all", "trend", "mean_reversion")
    )
    result = run_tournament(**_inputs(grid=grid))
    board = result.board.set_index("strategy")
    trend = strategy_name("baseline", "custom", "equal_weight", "trend")
    reverting = strategy_name("baseline", "equal", "selected", "mean_reversion")
    assert trend == "baseline:trend/custom/equal_weight"
    assert len(board) == 6 and set(board["logics"]) == {"all", "trend", "mean_reversion"}
    # Trend alone: one atom at 1, decided twice, never re-signed.
    expected = pd.DataFrame({"T:TR": [1.0, 1.0]}, index=[DAYS[T1], DAYS[T2]])
    pd.testing.assert_frame_equal(
        result.decisions[trend], expected, check_freq=False, check_index_type=False
    )
    assert board.loc[trend, "signal_rebalances"] == 0
    assert json.loads(board.loc[trend, "logic_shares"]) == {"trend": 1.0}
    # Mean reversion alone: its atom at 1, re-signed on the days found by hand.
    got = result.decisions[reverting]
    pd.testing.assert_frame_equal(
        got, _hand_books(1.0, 0.0), check_freq=False, check_names=False, check_index_type=False
    )
    # Each restricted cell's selection alpha is its own equal-weight reference's.
    assert (
        board.loc[trend, "selection_alpha"]
        == board.loc[strategy_name("baseline", "equal", "selected", "trend"), "selection_alpha"]
    )
    assert board.loc[trend, "selection_alpha"] != board.loc[reverting, "selection_alpha"]


def test_reused_books_are_re_signed_as_fresh_ones():
    fresh = run_tournament(**_inputs(), stamps=lambda day: "v1")
    assert fresh.books["atom_id"].notna().all() and fresh.books["rebalance_date"].nunique() == 2
    loaded = []

    def load_day(day):
        loaded.append(day)
        return _load_day(day)

    again = run_tournament(**_inputs(load_day=load_day), stamps=lambda day: "v1", known=fresh.books)
    assert loaded == [] and again.reused == 2
    pd.testing.assert_frame_equal(again.board, fresh.board)
    pd.testing.assert_frame_equal(again.returns, fresh.returns)
    # A table of the earlier layout (physical weights, no atoms) is decided again.
    old = fresh.books.drop(columns=["atom_id", "logic", "timescale"])
    run_tournament(**_inputs(load_day=load_day), stamps=lambda day: "v1", known=old)
    assert loaded == [DAYS[T1].date(), DAYS[T2].date()]


@pytest.mark.parametrize("workers", [2], ids=["two-processes"])
def test_cells_through_the_executor_equal_the_sequential_run(workers):
    grid = Grid(("baseline",), ("custom",), ("equal_weight",), 1, ("all", "mean_reversion"))
    here = run_tournament(**_inputs(grid=grid))
    calls = []

    def spread(function, batch, shared):
        calls.append(len(batch))
        return map_calls(function, batch, workers=workers, min_calls=1, shared=shared)

    there = run_tournament(**_inputs(grid=grid), run_calls=spread)
    assert calls == [2, 4, 1]  # (date, engine) decisions, cells, the leader's re-run
    pd.testing.assert_frame_equal(there.board, here.board)
    pd.testing.assert_frame_equal(there.returns, here.returns)
    for name, weights in here.decisions.items():
        pd.testing.assert_frame_equal(there.decisions[name], weights)


@pytest.mark.parametrize(
    ("logics", "message"),
    [(["trnd"], "logics 'trnd': expected 'all' or logics"), (["all", "all"], "appears twice")],
    ids=["unknown-logic", "repeated-entry"],
)
def test_a_grid_names_known_logics_once(logics, message):
    from pydantic import ValidationError

    from tvs_pipeline.config.schema import TournamentGrid

    spec = {"selection": ["htr_3_4"], "engines": ["custom"], "profiles": ["hrp"]}
    assert TournamentGrid(**spec).logics == ["all"]
    assert TournamentGrid(**spec, logics=["trend", "mean_reversion+rating"]).logics[1] == (
        "mean_reversion+rating"
    )
    with pytest.raises(ValidationError, match=message):
        TournamentGrid(**spec, logics=logics)
