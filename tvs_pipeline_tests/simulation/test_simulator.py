"""Tests of the vectorized simulator: hand-computed trades, drift, held shorts, borrow, timing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.simulation.friction import FrictionModel
from tvs_pipeline.simulation.simulator import (
    LEDGER_COLUMNS,
    Holdings,
    hold_session,
    simulate,
    trade_to,
)

DAYS = pd.date_range("2025-03-03", periods=8, freq="D")


def _returns(**columns: list[float]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=DAYS[:n], dtype="float64")


def _decisions(rows: dict[int, dict[str, float]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns).fillna(0.0)
    frame.index = DAYS[list(rows)]
    return frame


def test_one_trade_pays_six_bps_of_what_it_buys_and_earns_the_next_day():
    returns = _returns(A=[0.50, 0.02, -0.01], B=[0.50, 0.04, 0.00])
    ledger = simulate(_decisions({0: {"A": 0.6, "B": 0.4}}, ["A", "B"]), returns)
    # By hand: day 1 holds 0.6 A + 0.4 B (day 0's +50 % is before the trade and never earned).
    gross = 0.6 * 0.02 + 0.4 * 0.04
    cost = 6e-4 * 1.0
    assert list(ledger.columns) == list(LEDGER_COLUMNS)
    assert list(ledger.index) == list(DAYS[1:3])
    assert ledger["gross"].iloc[0] == pytest.approx(gross, abs=1e-15)
    assert ledger["cost"].iloc[0] == pytest.approx(cost, abs=1e-15)
    assert ledger["net"].iloc[0] == pytest.approx(gross - cost, abs=1e-15)
    # Day 2: weights drifted by day 1's returns over equity 1 + net; no trade, no cost.
    equity = 1 + gross - cost
    w_a, w_b = 0.6 * 1.02 / equity, 0.4 * 1.04 / equity
    assert ledger["gross"].iloc[1] == pytest.approx(w_a * -0.01, abs=1e-15)
    assert ledger["turnover"].iloc[1] == 0.0 and not ledger["rebalanced"].iloc[1]
    assert ledger["long_exposure"].iloc[1] == pytest.approx(w_a + w_b, abs=1e-15)
    assert ledger["equity"].iloc[1] == pytest.approx(equity * (1 + w_a * -0.01), abs=1e-15)


def test_a_rebalance_trades_only_the_drift_back_to_target():
    returns = _returns(A=[0.0, 0.10, 0.0], B=[0.0, -0.10, 0.0])
    decisions = _decisions({0: {"A": 0.5, "B": 0.5}, 1: {"A": 0.5, "B": 0.5}}, ["A", "B"])
    ledger = simulate(decisions, returns, 0.0, 0.0)
    # After day 1 the book holds A 0.55, B 0.45 (equity 1.0); back to 50/50 trades 0.05 + 0.05.
    assert ledger["turnover"].tolist() == pytest.approx([1.0, 0.1], abs=1e-15)


def test_a_held_short_through_six_ten_percent_days_ends_where_a_held_short_ends():
    returns = _returns(A=[0.0] + [0.10] * 6)
    ledger = simulate(_decisions({0: {"A": -1.0}}, ["A"]), returns, 0.0, 0.0)
    # A held 100 % short of a price that rises 1.1^6: equity 1 − (1.1^6 − 1) = 2 − 1.1^6,
    # where a daily-rebalanced inverse would end at 0.9^6.
    assert ledger["equity"].iloc[-1] == pytest.approx(2.0 - 1.1**6, abs=1e-12)
    assert ledger["equity"].iloc[-1] != pytest.approx(0.9**6, abs=1e-3)
    assert ledger["short_exposure"].iloc[-1] == pytest.approx(1.1**5 / (2.0 - 1.1**5), abs=1e-12)


def test_a_short_loses_its_capital_at_most_and_is_closed():
    returns = _returns(A=[0.0, 0.5, 0.6, 0.3], B=[0.0, 0.0, 0.0, 0.3])
    ledger = simulate(_decisions({0: {"A": -0.5, "B": 0.5}}, ["A", "B"]), returns, 0.0, 0.0)
    # Day 1: −0.5·0.5 = −0.25, equity 0.75. Day 2 would take A to 1.5·1.6 = 2.4× entry: the
    # short loses what is left of its 0.5 capital, 0.25, i.e. a third of the day's 0.75
    # equity, and is gone; day 3 earns B only.
    assert ledger["gross"].iloc[0] == pytest.approx(-0.25)
    assert ledger["gross"].iloc[1] == pytest.approx(-0.25 / 0.75)
    assert ledger["equity"].iloc[1] == pytest.approx(0.5)
    assert ledger["short_exposure"].iloc[2] == 0.0
    assert ledger["gross"].iloc[2] == pytest.approx(0.3 * 0.5 / 0.5)  # B is the whole book


def test_borrow_accrues_per_calendar_day_on_shorts_only():
    returns = _returns(A=[0.0, 0.0, np.nan, 0.0], B=[0.0, 0.0, np.nan, 0.0])
    decisions = _decisions({0: {"A": -0.4, "B": 0.6}}, ["A", "B"])
    ledger = simulate(decisions, returns, 0.0, 0.0, borrow_bps_per_year=365.0)
    # 365 bps a year is 1 bp a day on the short's 0.4: day 2 is no session (nothing traded)
    # and pays nothing; day 3 pays the two days since the last session on the short, now
    # 0.4 of an equity that the first day's borrow made 1 − 0.4e-4.
    later = 0.4 / (1 - 0.4e-4)
    assert ledger["borrow"].tolist() == pytest.approx([0.4e-4, 0.0, 2e-4 * later], rel=1e-12)
    assert ledger["session"].tolist() == [True, False, True]
    assert ledger["net"].iloc[1] == 0.0


def test_a_decision_never_earns_its_own_day_or_anything_before():
    rng = np.random.default_rng(3)
    returns = pd.DataFrame(
        rng.normal(0, 0.02, (8, 3)), index=DAYS, columns=["A", "B", "C"], dtype="float64"
    )
    decisions = _decisions({2: {"A": 0.3, "B": 0.3, "C": 0.4}}, ["A", "B", "C"])
    base = simulate(decisions, returns)
    changed = returns.copy()
    changed.iloc[:3] = 0.5  # the decision day and before
    assert base.index[0] == DAYS[3]
    pd.testing.assert_frame_equal(simulate(decisions, changed), base)


def test_rows_up_to_a_day_do_not_depend_on_later_returns():
    rng = np.random.default_rng(4)
    returns = pd.DataFrame(rng.normal(0, 0.02, (8, 2)), index=DAYS, columns=["A", "B"])
    decisions = _decisions({0: {"A": 0.5, "B": -0.3}, 4: {"A": 0.2, "B": 0.2}}, ["A", "B"])
    base = simulate(decisions, returns, borrow_bps_per_year=50.0)
    future = returns.copy()
    future.iloc[5:] = rng.normal(0, 0.3, (3, 2))
    pd.testing.assert_frame_equal(
        simulate(decisions, future, borrow_bps_per_year=50.0).iloc[:4], base.iloc[:4]
    )


def test_friction_replaces_the_bps():
    returns = _returns(A=[0.0, 0.01])
    decisions = _decisions({0: {"A": 1.0}}, ["A"])
    ledger = simulate(decisions, returns, 100.0, 100.0, friction=FrictionModel(2.0, 1.0))
    assert ledger["cost"].iloc[0] == pytest.approx(3e-4)


def test_trade_keeps_the_entry_of_an_untouched_position():
    held = Holdings.of(pd.Series({"A": -0.5, "B": 0.5}), pd.Series({"A": 1.4, "B": 1.1}))
    new, turnover = trade_to(held, pd.Series({"A": -0.5, "B": 0.3, "C": 0.2}))
    assert turnover == pytest.approx(0.4)
    assert new.since.to_dict() == {"A": 1.4, "B": 1.0, "C": 1.0}


def test_hold_session_growth_matches_the_drifted_weights():
    book = Holdings.of(pd.Series({"A": 0.7, "B": -0.2}))
    result = hold_session(book, pd.Series({"A": 0.05, "B": 0.1}), trading_cost=0.001)
    equity = 1 + 0.7 * 0.05 - 0.2 * 0.1 - 0.001
    assert result.after.weights["A"] == pytest.approx(0.7 * 1.05 / equity)
    assert result.after.weights["B"] == pytest.approx(-0.2 * 1.1 / equity)
    assert result.growth["A"] == pytest.approx(1.05 / equity)


@pytest.mark.parametrize(
    ("weights", "returns", "message"),
    [
        (_decisions({0: {"Z": 1.0}}, ["Z"]), _returns(A=[0.0, 0.1]), r"\['Z'\] have weights"),
        (_decisions({3: {"A": 1.0}}, ["A"]), _returns(A=[0.0, 0.1]), "no return row after"),
        (
            _decisions({0: {"A": 1.0}}, ["A"]),
            _returns(A=[0.0, np.inf]),
            "returns holds an infinite",
        ),
    ],
    ids=["unknown-listing", "nothing-after", "infinite"],
)
def test_bad_input_is_one_clear_error(weights, returns, message):
    with pytest.raises(DataError, match=message):
        simulate(weights, returns)


def test_an_unknown_simulator_is_a_config_error():
    with pytest.raises(ConfigError, match="simulator 'zipline' is unknown"):
        simulate(_decisions({0: {"A": 1.0}}, ["A"]), _returns(A=[0.0, 0.1]), simulator="zipline")


def test_the_first_session_pays_borrow_since_the_trade_even_over_a_weekend():
    # A Friday decision, the next session a Monday: three calendar days of borrow, as every
    # later session pays for its gap.
    days = pd.to_datetime(["2025-01-03", "2025-01-06", "2025-01-07"])
    returns = pd.DataFrame({"A": [0.0, 0.0, 0.0]}, index=days)
    decisions = pd.DataFrame({"A": [-1.0]}, index=days[:1])
    ledger = simulate(decisions, returns, 0.0, 0.0, borrow_bps_per_year=36500.0)
    first = 3 * 0.01  # 365 % a year is 1 % a day, on a short of 1.0
    assert ledger["borrow"].iloc[0] == pytest.approx(first, rel=1e-12)
    assert ledger["borrow"].iloc[1] == pytest.approx(0.01 * 1.0 / (1 - first), rel=1e-12)


@pytest.mark.parametrize("rate", [-1000.0, float("nan"), pd.Series({"A": -5.0})])
def test_a_negative_or_missing_borrow_rate_is_a_config_error(rate):
    with pytest.raises(ConfigError, match="borrow_bps_per_year"):
        simulate(
            _decisions({0: {"A": -0.5}}, ["A"]), _returns(A=[0.0, 0.1]), borrow_bps_per_year=rate
        )
