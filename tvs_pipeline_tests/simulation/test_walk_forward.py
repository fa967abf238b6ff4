"""Tests of the friction-aware walk-forward: timing, drift, costs, no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.config import load_profile
from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.simulation.friction import FrictionModel
from tvs_pipeline.simulation.walk_forward import LEDGER_COLUMNS, walk_forward, walk_forward_ledger
from tvs_pipeline.synthesis.atoms import build_atoms

FRICTION = FrictionModel(slippage_bps=5.0, commission_bps=1.0)
RATE = 6e-4


def _dates(n: int) -> pd.DatetimeIndex:
    return pd.date_range("2025-03-03", periods=n, freq="D").as_unit("ns")


def _fixed(weights: dict[str, float]):
    def decide(history: pd.DataFrame) -> pd.Series:
        return pd.Series(weights, dtype=float)

    return decide


def _hand_returns() -> pd.DataFrame:
    # Row 0 is the decision day: its +50 % must never be earned.
    return pd.DataFrame(
        {"A": [0.50, 0.10, -0.02], "B": [0.50, -0.05, 0.03]},
        index=_dates(3),
    )


def _random_returns(n_days: int = 60, n_atoms: int = 4, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0005, 0.02, (n_days, n_atoms))
    return pd.DataFrame(values, index=_dates(n_days), columns=[f"atom{i}" for i in range(n_atoms)])


# ---------------------------------------------------------------- hand examples


def test_two_day_hand_example_rebalancing_daily():
    returns = _hand_returns()
    before = returns.copy()
    ledger = walk_forward(
        returns, _fixed({"A": 0.6, "B": 0.4}), step=1, warmup=1, friction=FRICTION
    )
    pd.testing.assert_frame_equal(returns, before)
    assert tuple(ledger.columns) == LEDGER_COLUMNS
    assert list(ledger["market_date"]) == list(returns.index[1:])

    # Day 1: buy from cash (turnover 1), hold 0.6/0.4 over row 1.
    gross1 = 0.6 * 0.10 + 0.4 * -0.05  # 0.04
    cost1 = RATE * 1.0
    net1 = gross1 - cost1
    # Drifted into day 2: A 0.66/1.04, B 0.38/1.04; trade back to 0.6/0.4.
    turnover2 = abs(0.6 - 0.66 / 1.04) + abs(0.4 - 0.38 / 1.04)  # 0.072 / 1.04
    gross2 = 0.6 * -0.02 + 0.4 * 0.03  # 0.0
    cost2 = RATE * turnover2
    net2 = gross2 - cost2
    np.testing.assert_allclose(ledger["gross_return"], [gross1, gross2], rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(ledger["turnover"], [1.0, 0.072 / 1.04], rtol=1e-12)
    np.testing.assert_allclose(ledger["cost"], [cost1, cost2], rtol=1e-12)
    np.testing.assert_allclose(ledger["net_return"], [net1, net2], rtol=1e-12)
    np.testing.assert_allclose(ledger["equity"], [1 + net1, (1 + net1) * (1 + net2)], rtol=1e-12)
    np.testing.assert_allclose(ledger["exposure"], [1.0, 1.0], rtol=1e-12)
    assert ledger["rebalanced"].tolist() == [True, True]


def test_two_day_hand_example_drifting_without_rebalance():
    ledger = walk_forward(
        _hand_returns(), _fixed({"A": 0.6, "B": 0.4}), step=2, warmup=1, friction=FRICTION
    )
    # Day 2 holds the drifted weights 0.66/1.04 and 0.38/1.04 and pays nothing.
    gross2 = (0.66 / 1.04) * -0.02 + (0.38 / 1.04) * 0.03
    np.testing.assert_allclose(ledger["gross_return"], [0.04, gross2], rtol=1e-12)
    np.testing.assert_allclose(ledger["cost"], [RATE, 0.0], rtol=1e-12)
    np.testing.assert_allclose(ledger["turnover"], [1.0, 0.0], rtol=1e-12)
    np.testing.assert_allclose(
        ledger["equity"], [1.04 - RATE, (1.04 - RATE) * (1 + gross2)], rtol=1e-12
    )
    assert ledger["rebalanced"].tolist() == [True, False]


def test_drift_over_several_days_matches_buy_and_hold():
    returns = _random_returns(n_days=12, n_atoms=3, seed=4)
    weights = {"atom0": 0.5, "atom1": 0.3, "atom2": 0.2}
    ledger = walk_forward(returns, _fixed(weights), step=100, warmup=2, friction=FRICTION)
    # One trade on row 2, then buy-and-hold: value = Σ w·Π(1 + r) over rows 2..t.
    growth = (1 + returns.iloc[2:]).cumprod()
    held_value = (growth * pd.Series(weights)).sum(axis=1).to_numpy()
    expected_gross = held_value / np.concatenate(([1.0], held_value[:-1])) - 1
    np.testing.assert_allclose(ledger["gross_return"], expected_gross, rtol=1e-12)
    # Only the first day pays (turnover 1 from cash); net = gross − cost, compounded.
    first_day = 1 + expected_gross[0] - RATE
    expected_equity = first_day * np.concatenate(([1.0], np.cumprod(1 + expected_gross[1:])))
    np.testing.assert_allclose(ledger["equity"], expected_equity, rtol=1e-12)
    assert ledger["rebalanced"].tolist() == [True] + [False] * 9


def test_turnover_is_measured_against_drifted_weights():
    returns = _random_returns(n_days=10, n_atoms=2, seed=7)
    ledger = walk_forward(returns, _fixed({"atom0": 0.5, "atom1": 0.5}), 3, 1, FRICTION)
    # Rebalances execute on rows 1, 4, 7; weights drift from 0.5/0.5 over the two days between.
    for execution in (4, 7):
        growth = (1 + returns.iloc[execution - 3 : execution]).prod()
        drifted = 0.5 * growth / (0.5 * growth).sum()
        expected = float(np.abs(drifted - 0.5).sum())
        row = ledger.index[ledger["market_date"] == returns.index[execution]][0]
        np.testing.assert_allclose(ledger.loc[row, "turnover"], expected, rtol=1e-12)
        np.testing.assert_allclose(ledger.loc[row, "cost"], RATE * expected, rtol=1e-12)


# ---------------------------------------------------------------- timing


def test_weight_decided_on_t_never_earns_r_t():
    returns = pd.DataFrame(
        {"A": [0.0, -0.01, 0.30, 0.01, 0.0], "B": [0.0, 0.01, -0.10, 0.02, 0.0]}, index=_dates(5)
    )

    def chase(history: pd.DataFrame) -> pd.Series:
        # All in on whichever atom did best on the last row of history.
        return pd.Series({history.iloc[-1].idxmax(): 1.0})

    ledger = walk_forward(returns, chase, step=1, warmup=2, friction=FrictionModel(0.0, 0.0))
    # Row 1 picks B, held over row 2 (B -10 %); row 2 picks A after its +30 %, held over
    # row 3 (A +1 %): the +30 % is never earned; row 3 picks B, held over row 4 (0).
    assert ledger["market_date"].tolist() == list(returns.index[2:])
    np.testing.assert_allclose(ledger["gross_return"], [-0.10, 0.01, 0.0], rtol=1e-12, atol=0)


def test_decide_sees_data_through_the_rebalance_date_only():
    returns = _random_returns(n_days=11)
    seen: list[tuple[pd.Timestamp, int]] = []

    def recording(history: pd.DataFrame) -> pd.Series:
        seen.append((history.index.max(), len(history)))
        return pd.Series(0.25, index=history.columns)

    walk_forward(returns, recording, step=3, warmup=2, friction=FRICTION)
    # Decision rows 1, 4, 7 (row 10 is the last row: no execution day, so no call).
    assert seen == [(returns.index[t], t + 1) for t in (1, 4, 7)]


def test_perturbing_the_future_does_not_change_the_past():
    returns = _random_returns(n_days=40)

    def min_vol(history: pd.DataFrame) -> pd.Series:
        inverse = 1.0 / history.tail(10).std()
        return inverse / inverse.sum()

    base = walk_forward(returns, min_vol, step=5, warmup=10, friction=FRICTION)
    cut = 25
    perturbed = returns.copy()
    perturbed.iloc[cut + 1 :] = perturbed.iloc[cut + 1 :] * -3.0
    other = walk_forward(perturbed, min_vol, step=5, warmup=10, friction=FRICTION)
    through_cut = base["market_date"] <= returns.index[cut]
    pd.testing.assert_frame_equal(base[through_cut], other[through_cut])
    assert not base.equals(other)


@pytest.mark.parametrize(
    ("n_days", "step", "warmup", "rebalance_rows"),
    [
        (10, 3, 2, [2, 5, 8]),
        (8, 3, 2, [2, 5]),
        (6, 1, 5, [5]),
        (6, 10, 1, [1]),
    ],
    ids=["every-3", "last-decision-dropped", "warmup-leaves-one-day", "step-beyond-end"],
)
def test_rebalance_schedule(n_days, step, warmup, rebalance_rows):
    returns = _random_returns(n_days=n_days)
    ledger = walk_forward(returns, _fixed({"atom0": 1.0}), step, warmup, FRICTION)
    assert ledger["market_date"].tolist() == list(returns.index[warmup:])
    executed = returns.index[rebalance_rows].tolist()
    assert ledger.loc[ledger["rebalanced"], "market_date"].tolist() == executed


# ---------------------------------------------------------------- details


def test_nan_return_earns_zero():
    returns = pd.DataFrame({"A": [0.0, np.nan, 0.05], "B": [0.0, 0.02, 0.01]}, index=_dates(3))
    ledger = walk_forward(returns, _fixed({"A": 0.5, "B": 0.5}), 10, 1, FrictionModel(0.0, 0.0))
    # Day 1: A earns 0 (NaN); drift A 0.5/1.01, B 0.51/1.01.
    np.testing.assert_allclose(
        ledger["gross_return"], [0.01, (0.5 * 0.05 + 0.51 * 0.01) / 1.01], rtol=1e-12
    )


def test_partial_book_holds_cash_and_reports_exposure():
    returns = _hand_returns()
    ledger = walk_forward(returns, _fixed({"A": 0.5}), step=2, warmup=1, friction=FRICTION)
    # Day 1: 0.5 in A (+10 %), 0.5 cash; day 2: A weighs 0.55 / 1.05.
    np.testing.assert_allclose(ledger["gross_return"], [0.05, 0.55 / 1.05 * -0.02], rtol=1e-12)
    np.testing.assert_allclose(ledger["exposure"], [0.5, 0.55 / 1.05], rtol=1e-12)
    np.testing.assert_allclose(ledger["cost"], [RATE * 0.5, 0.0], rtol=1e-12)


def test_wiped_out_book_holds_nothing_until_the_next_trade():
    returns = pd.DataFrame({"A": [0.0, -1.0, 0.5, 0.5]}, index=_dates(4))
    ledger = walk_forward(returns, _fixed({"A": 1.0}), 2, 1, FrictionModel(0.0, 0.0))
    np.testing.assert_allclose(ledger["gross_return"], [-1.0, 0.0, 0.5], atol=0)
    np.testing.assert_allclose(ledger["exposure"], [1.0, 0.0, 1.0], atol=0)


def test_friction_changes_the_ledger():
    returns = _random_returns()
    free = walk_forward(returns, _fixed({"atom0": 0.5, "atom1": 0.5}), 5, 5, FrictionModel(0, 0))
    paid = walk_forward(returns, _fixed({"atom0": 0.5, "atom1": 0.5}), 5, 5, FRICTION)
    pd.testing.assert_series_equal(free["gross_return"], paid["gross_return"])
    np.testing.assert_allclose(paid["cost"], RATE * paid["turnover"], rtol=1e-12)
    assert (paid["equity"] < free["equity"]).all()


def test_ledger_types_equity_and_determinism():
    returns = _random_returns()
    decide = _fixed({"atom0": 0.25, "atom1": 0.25, "atom2": 0.5})
    ledger = walk_forward(returns, decide, step=7, warmup=20, friction=FRICTION)
    assert isinstance(ledger.index, pd.RangeIndex)
    assert ledger["market_date"].dtype == "datetime64[ns]"
    assert ledger["rebalanced"].dtype == bool
    np.testing.assert_allclose(ledger["net_return"], ledger["gross_return"] - ledger["cost"])
    np.testing.assert_allclose(ledger["equity"], (1 + ledger["net_return"]).cumprod(), rtol=1e-12)
    pd.testing.assert_frame_equal(walk_forward(returns, decide, 7, 20, FRICTION), ledger)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("step", "warmup", "match"),
    [
        (0, 1, "step 0: expected an integer >= 1"),
        (1, 0, "warmup 0: expected an integer >= 1"),
        (1.5, 1, "step 1.5"),
        (True, 1, "step True"),
    ],
    ids=["step-zero", "warmup-zero", "step-float", "step-bool"],
)
def test_bad_cadence_raises_config_error(step, warmup, match):
    with pytest.raises(ConfigError, match=match):
        walk_forward(_random_returns(), _fixed({"atom0": 1.0}), step, warmup, FRICTION)


def _bad(kind: str) -> pd.DataFrame:
    good = _random_returns(n_days=6)
    frames = {
        "no-atoms": good.iloc[:, :0],
        "not-dates": good.reset_index(drop=True),
        "tz-aware": good.tz_localize("UTC"),
        "unsorted": good.iloc[::-1],
        "duplicate-atoms": good.set_axis(["a", "a", "b", "c"], axis=1),
        "too-short": good.iloc[:3],
    }
    if kind == "inf":
        frame = good.copy()
        frame.iloc[2, 0] = np.inf
        return frame
    return frames[kind]


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        pytest.param("no-atoms", "DataFrame with rows and atoms", id="no-atoms"),
        pytest.param("not-dates", "naive dates", id="not-dates"),
        pytest.param("tz-aware", "naive dates", id="tz-aware"),
        pytest.param("unsorted", "sorted and unique", id="unsorted"),
        pytest.param("duplicate-atoms", r"duplicate atom columns \['a'\]", id="duplicate-atoms"),
        pytest.param("too-short", "3 rows, expected at least warmup \\+ 1 = 4", id="too-short"),
        pytest.param("inf", r"infinite returns in atoms \[.atom0.\]", id="inf"),
    ],
)
def test_bad_returns_raise_data_error(kind, match):
    with pytest.raises(DataError, match=match):
        walk_forward(_bad(kind), _fixed({"atom0": 1.0}), step=1, warmup=3, friction=FRICTION)


@pytest.mark.parametrize(
    ("decide", "match"),
    [
        (lambda h: {"atom0": 1.0}, "dict, expected a pandas Series"),
        (lambda h: pd.Series({"zzz": 1.0}), r"weights for unknown atoms \['zzz'\]"),
        (lambda h: pd.Series({"atom0": np.nan}), "non-finite weights"),
        (lambda h: pd.Series([0.5, 0.5], index=["atom0", "atom0"]), "duplicate atoms"),
    ],
    ids=["not-series", "unknown-atom", "nan", "duplicate"],
)
def test_bad_decisions_raise_data_error(decide, match):
    with pytest.raises(DataError, match=rf"^walk_forward 2025-03-04: decide returned {match}"):
        walk_forward(_random_returns(), decide, step=5, warmup=2, friction=FRICTION)


# ---------------------------------------------------------------- a fixed session grid


@pytest.mark.parametrize(
    ("phase", "rebalance_rows"),
    [(0, [2, 3, 6]), (1, [2, 5, 8]), (2, [2, 4, 7])],
    ids=["grid-right-after-entry", "grid-on-entry", "grid-two-after"],
)
def test_phase_puts_rebalances_after_the_entry_on_the_grid(phase, rebalance_rows):
    # step 3, warmup 3: entry decided on row 2, then every row t with (phase + t) % 3 == 0.
    returns = _random_returns(n_days=10)
    decided: list[pd.Timestamp] = []

    def recording(history: pd.DataFrame) -> pd.Series:
        decided.append(history.index[-1])
        return pd.Series({"atom0": 1.0})

    ledger = walk_forward(returns, recording, 3, 3, FRICTION, phase=phase)
    assert decided == returns.index[rebalance_rows].tolist()
    executed = returns.index[[row + 1 for row in rebalance_rows]].tolist()
    assert ledger.loc[ledger["rebalanced"], "market_date"].tolist() == executed


def test_windows_starting_on_different_days_trade_on_the_same_grid_dates():
    returns = _random_returns(n_days=80)
    decided: dict[int, list[pd.Timestamp]] = {0: [], 1: []}
    for shift in (0, 1):

        def recording(history: pd.DataFrame, shift=shift) -> pd.Series:
            decided[shift].append(history.index[-1])
            return pd.Series({"atom0": 1.0})

        walk_forward(returns.iloc[shift:], recording, 7, 10, FRICTION, phase=100 + shift)
    # Only the entries differ (row 9 of each window); every later decision date is shared.
    assert decided[0][0] == returns.index[9] and decided[1][0] == returns.index[10]
    assert decided[0][1:] == decided[1][1:] == returns.index[12::7][: len(decided[0]) - 1].tolist()


@pytest.mark.parametrize("phase", [1.5, True, "3"])
def test_bad_phase_raises_config_error(phase):
    with pytest.raises(ConfigError, match="phase"):
        walk_forward(_random_returns(), _fixed({"atom0": 1.0}), 5, 2, FRICTION, phase=phase)


def _atoms(n_days: int = 150, seed: int = 3) -> pd.DataFrame:
    """Three crypto atoms (every calendar day) from seeded returns, as synthesis builds them."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2025-01-01", periods=n_days)
    symbols = ["A", "B", "C"]
    selection = pd.DataFrame(
        {"symbol": symbols, "logic": "trend", "direction": "LONG", "sleeve": "s"}
    ).assign(calendar="24/7", selected=True)
    panel = pd.DataFrame(
        {
            "symbol": np.repeat(symbols, n_days),
            "market_date": np.tile(days, len(symbols)),
            "ret": rng.normal(0.0005, 0.02, n_days * len(symbols)),
        }
    )
    return build_atoms(selection, panel)


def test_walk_forward_ledger_of_no_atom_is_an_empty_ledger():
    profile = load_profile("demo")
    ledger = walk_forward_ledger(_atoms().iloc[:0], profile)
    assert ledger.empty and list(ledger.columns) == list(LEDGER_COLUMNS)


def test_walk_forward_ledger_follows_the_profile_cadence_and_friction():
    profile, atoms = load_profile("demo"), _atoms()
    before = atoms.copy()
    ledger = walk_forward_ledger(atoms, profile)
    warmup = profile.allocation.estimation_days
    assert len(ledger) == 150 - warmup  # one row per session after the warm-up
    assert ledger["rebalanced"].iloc[0] and ledger["cost"].iloc[0] > 0  # the entry pays
    free = profile.model_copy(
        update={
            "simulation": profile.simulation.model_copy(
                update={"slippage_bps": 0.0, "commission_bps": 0.0}
            )
        }
    )
    frictionless = walk_forward_ledger(atoms, free)
    assert (frictionless["cost"] == 0).all()
    np.testing.assert_allclose(frictionless["net_return"], ledger["gross_return"], rtol=1e-12)
    pd.testing.assert_frame_equal(atoms, before)
