"""One day's book (tvs_pipeline/allocation/book.py): atom weights and physical net weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.allocation.book import target_weights
from tvs_pipeline.config.schema import AllocationConfig

EQUAL = AllocationConfig(engine="custom", profile="equal_weight", fallback=[])
ATOMS = [  # (symbol, logic, direction, sign)
    ("AAA", "trend", "LONG", 1),
    ("AAA", "meanrev", "SHORT", -1),
    ("BBB", "trend", "LONG", 1),
    ("CCC", "trend", "SHORT", -1),
]


def atoms_of(days: int = 150, seed: int = 0) -> pd.DataFrame:
    """Four crypto atoms with ``days`` daily returns each, in the synthesis table's layout."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-01-01", periods=days, freq="D", name="market_date")
    frames = [
        pd.DataFrame(
            {
                "atom_id": f"{symbol}|{logic}|{direction}",
                "symbol": symbol,
                "logic": logic,
                "direction": direction,
                "sign": sign,
                "sleeve": "crypto",
                "calendar": "24/7",
                "market_date": dates,
                "ret": rng.normal(0.0, 0.02, days),
            }
        )
        for symbol, logic, direction, sign in ATOMS
    ]
    return pd.concat(frames, ignore_index=True)


def test_equal_weights_net_onto_the_symbols_by_hand():
    """Four atoms at 1/4 each. AAA is long in one atom and short in another: it nets to 0;
    BBB is +1/4, CCC (a short) -1/4; the book's net exposure is 1/4 - 1/4 + 1/4 - 1/4 = 0."""
    atoms = atoms_of()
    before = atoms.copy()
    book = target_weights(atoms, EQUAL)
    atom_rows = book.loc[book["kind"] == "atom"].set_index("atom_id")
    np.testing.assert_allclose(atom_rows["weight"], [0.25] * 4, rtol=1e-12)
    assert sorted(atom_rows.index) == sorted(f"{s}|{lg}|{d}" for s, lg, d, _ in ATOMS)
    assert atom_rows.loc["CCC|trend|SHORT", "sign"] == -1  # joined with the composition
    physical = book.loc[book["kind"] == "physical"].set_index("symbol")["net_weight"]
    expected = pd.Series({"AAA": 0.0, "BBB": 0.25, "CCC": -0.25}, name="net_weight")
    pd.testing.assert_series_equal(physical, expected, check_names=False, atol=1e-12)
    assert book.index.equals(pd.RangeIndex(len(book)))
    assert {"kind", "atom_id", "symbol", "weight", "net_weight"} <= set(book.columns)
    pd.testing.assert_frame_equal(atoms, before)


def test_an_atom_without_enough_history_gets_no_weight():
    atoms = atoms_of()
    young = atoms["atom_id"].eq("BBB|trend|LONG") & (atoms["market_date"] < "2025-05-01")
    book = target_weights(atoms.loc[~young], EQUAL)
    weights = book.loc[book["kind"] == "atom"].set_index("atom_id")["weight"]
    assert weights["BBB|trend|LONG"] == 0.0
    np.testing.assert_allclose(weights.drop("BBB|trend|LONG"), [1 / 3] * 3, rtol=1e-12)
    physical = book.loc[book["kind"] == "physical"].set_index("symbol")["net_weight"]
    assert physical.sum() == pytest.approx(-1 / 3, abs=1e-12)  # AAA nets 0, CCC short 1/3


def test_a_day_without_atoms_is_an_empty_book():
    book = target_weights(atoms_of().iloc[:0], EQUAL)
    assert book.empty
    assert list(book.columns) == ["kind", "atom_id", "symbol", "weight", "net_weight"]
