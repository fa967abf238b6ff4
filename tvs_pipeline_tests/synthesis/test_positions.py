"""Each logic's position rule (tvs_pipeline/synthesis/positions.py), by hand and by property."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.synthesis import atom_summary, build_atoms, composition, positions

RETURNS = np.array([0.1, -0.1, 0.2, -0.3, 0.05, 0.01, 0.02])


def test_trend_holds_its_direction():
    assert positions(RETURNS, "trend", "LONG", 20).tolist() == [1] * 8
    assert positions(RETURNS, "trend", "SHORT", 5).tolist() == [-1] * 8
    assert positions(RETURNS[:0], "mean_reversion", "SHORT", 5).tolist() == [-1]


def test_mean_reversion_by_hand():
    """Window 2, every 2 sessions counted back from the last close (7, 5, 3, 1).

    Log closes l_0..l_7 = 0, ln 1.1, + ln 0.9, + ln 1.2, + ln 0.7, + ln 1.05, + ln 1.01,
    + ln 1.02; the level is the mean of the last two; the side is -sign(l_k - level_k):
    close 1: l_1 > level (0.0953 > 0.0477) -> -1; close 3: 0.1722 > 0.0811 -> -1;
    close 5: -0.1357 > -0.1601 -> -1; close 7: -0.1060 > -0.1159 -> -1. Return 0 comes
    before any rebalance: the direction (+1). Returns 1-2 hold close 1's side, 3-4 close 3's,
    5-6 close 5's; close 7's side is held next.
    """
    side = positions(RETURNS, "mean_reversion", "LONG", 2, window=2)
    assert side.tolist() == [1, -1, -1, -1, -1, -1, -1, -1]
    dip = np.array([0.0, 0.0, -0.1, 0.0])  # closes 1, 1, 1, 0.9, 0.9: below level at close 3
    side = positions(dip, "mean_reversion", "SHORT", 1, window=2)
    # close 1: flat (0 -> the direction, -1); close 2: flat; close 3: 0.9 < level -> +1;
    # close 4: l = level -> 0 -> the direction
    assert side.tolist() == [-1, -1, -1, 1, -1]


def test_rating_follows_the_sign_of_the_rating():
    """Rising closes: the price is above its SMA 10 from the 10th close (close 9) and its
    10-close momentum is up from close 10; from close 14 the RSI (100) votes sell, which
    halves the oscillators' part but leaves the rating at +0.5. The side is +1 once a vote
    exists, whatever the direction; before it, the direction."""
    up = np.full(15, 0.01)
    side = positions(up, "rating", "SHORT", 1)
    assert side[:9].tolist() == [-1] * 9
    assert side[9:].tolist() == [1] * 7
    down = positions(-up, "rating", "LONG", 1)
    assert down[:9].tolist() == [1] * 9 and down[9:].tolist() == [-1] * 7


@pytest.mark.parametrize("logic", ["mean_reversion", "rating", "trend"])
@pytest.mark.parametrize("timescale", [1, 3, 5, 10])
def test_a_side_never_reads_its_own_return_or_later(logic, timescale):
    """Perturb every return from t on: the sides held over returns 0..t are unchanged."""
    rng = np.random.default_rng(15)
    r = rng.normal(0, 0.02, 300) + 0.01 * np.sin(np.arange(300) / 3)
    base = positions(r, logic, "LONG", timescale)
    for t in (40, 150, 299):
        shocked = r.copy()
        shocked[t:] = rng.normal(0, 0.05, 300 - t)
        assert (
            positions(shocked, logic, "LONG", timescale)[: t + 1].tolist() == base[: t + 1].tolist()
        )


def test_sides_change_only_on_rebalances():
    rng = np.random.default_rng(3)
    r = rng.normal(0, 0.02, 101)
    side = positions(r, "mean_reversion", "LONG", 5)
    changes = np.flatnonzero(np.diff(side[:-1]) != 0) + 1  # return index where a new side starts
    assert set((101 - changes) % 5) <= {0}  # a new side starts right after a rebalance close


def test_bad_inputs():
    with pytest.raises(DataError, match="timescale must be a whole number >= 1, got 0"):
        positions(RETURNS, "trend", "LONG", 0)
    with pytest.raises(DataError, match="direction must be LONG or SHORT, got 'UP'"):
        positions(RETURNS, "trend", "UP", 5)


def selection_of(*rows) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "symbol": s,
                "logic": logic,
                "direction": d,
                "sleeve": "s",
                "calendar": "24/7",
                "selected": True,
                **extra,
            }
            for s, logic, d, extra in rows
        ]
    )


def test_atoms_carry_logic_timescale_and_their_side():
    days = pd.date_range("2025-01-01", periods=7)
    panel = pd.DataFrame(
        {"symbol": ["A"] * 7 + ["B"] * 7, "market_date": list(days) * 2, "ret": [*RETURNS] * 2}
    )
    selection = selection_of(
        ("A", "mean_reversion", "LONG", {"timescale": 2}),
        ("B", "trend", "SHORT", {"timescale": np.nan}),  # the logic's default: 20
    )
    atoms = build_atoms(selection, panel)
    a = atoms.loc[atoms["atom_id"] == "A|mean_reversion|LONG"]
    # window 20 > 7 closes: no level yet, the side is the direction throughout
    assert a["position"].tolist() == [1] * 7 and (a["sign"] == 1).all()
    np.testing.assert_allclose(a["ret"], RETURNS, rtol=0)
    b = atoms.loc[atoms["atom_id"] == "B|trend|SHORT"]
    np.testing.assert_allclose(b["ret"], np.maximum(-RETURNS, -1.0), rtol=0)
    comp = composition(atoms).set_index("atom_id")
    assert comp.loc["A|mean_reversion|LONG", "timescale"] == 2
    assert comp.loc["B|trend|SHORT", ["timescale", "sign", "logic"]].tolist() == [20, -1, "trend"]
    with pytest.raises(DataError, match="timescale must be a whole number >= 1"):
        build_atoms(selection_of(("A", "trend", "LONG", {"timescale": 0.5})), panel)


def test_a_reverting_atom_flips_and_its_stream_is_the_side_it_held():
    rng = np.random.default_rng(5)
    n, phi = 120, 0.6
    level = np.zeros(n + 1)
    for t in range(1, n + 1):  # an AR(1) log price: it reverts within a few sessions
        level[t] = phi * level[t - 1] + rng.normal(0, 0.03)
    r = np.expm1(np.diff(level))
    days = pd.date_range("2025-01-01", periods=n)
    panel = pd.DataFrame({"symbol": "A", "market_date": days, "ret": r})
    atoms = build_atoms(selection_of(("A", "mean_reversion", "LONG", {"timescale": 5})), panel)
    side = positions(r, "mean_reversion", "LONG", 5)
    assert atoms["position"].tolist() == side[:-1].tolist() and set(side) == {-1, 1}
    expected = np.where(side[:-1] > 0, r, np.maximum(-r, -1.0))
    np.testing.assert_allclose(atoms["ret"], expected, rtol=0)
    assert (atoms["sign"] == side[-1]).all()
    # buying below the level and selling above it earns the reversal on such a path
    assert atoms["ret"].mean() > 0 > np.mean(np.where(side[:-1] > 0, -r, r))


def test_atom_summary_counts_logics_and_timescales():
    days = pd.date_range("2025-01-01", periods=7)
    panel = pd.DataFrame(
        {"symbol": ["A"] * 7 + ["B"] * 7, "market_date": list(days) * 2, "ret": [*RETURNS] * 2}
    )
    selection = selection_of(
        ("A", "mean_reversion", "LONG", {"timescale": 5}),
        ("B", "trend", "SHORT", {"timescale": 20}),
        ("A", "trend", "LONG", {"timescale": 20}),
    )
    assert atom_summary(build_atoms(selection, panel)) == {
        "atoms": 3,
        "logics": 2,
        "timescales": 2,
        "atoms_by_logic": {"mean_reversion/5": 1, "trend/20": 2},
    }
    empty = atom_summary(build_atoms(selection.assign(selected=False), panel))
    assert empty == {"atoms": 0, "logics": 0, "timescales": 0, "atoms_by_logic": {}}


@pytest.mark.parametrize("logic", ["mean_reversion", "rating", "trend"])
def test_the_side_at_each_close_reads_that_close_and_earlier_ones_only(logic):
    from tvs_pipeline.synthesis.positions import close_sides

    r = np.random.default_rng(3).normal(0.0, 0.02, 260)
    sides = close_sides(r, logic, "SHORT")
    # Causal: each prefix gives the same sides; the last is the atom's sign (positions').
    for k in (0, 19, 20, 120, 259):
        assert (close_sides(r[:k], logic, "SHORT") == sides[: k + 1]).all()
        assert close_sides(r[:k], logic, "SHORT")[-1] == positions(r[:k], logic, "SHORT", 5)[-1]
    assert set(np.unique(sides)) <= {-1, 1}
    if logic == "trend":
        assert (sides == -1).all()
    else:
        assert len(np.unique(sides)) == 2
