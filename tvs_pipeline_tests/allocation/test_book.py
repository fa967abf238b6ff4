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
    assert list(book.columns) == [
        "kind", "atom_id", "symbol", "weight", "net_weight",
        "long_exposure", "short_exposure", "gross_exposure", "net_exposure", "beta",
    ]  # fmt: skip


def test_exposures_are_the_physical_book_s_by_hand():
    # Physical nets: AAA 0, BBB +1/4, CCC -1/4 -> long 1/4, short 1/4, gross 1/2, net 0.
    book = target_weights(atoms_of(), EQUAL)
    row = book.iloc[0]
    assert row["long_exposure"] == pytest.approx(0.25)
    assert row["short_exposure"] == pytest.approx(0.25)
    assert row["gross_exposure"] == pytest.approx(0.5)
    assert row["net_exposure"] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(row["beta"])  # no market index given


def market_of(atoms: pd.DataFrame, regime: str) -> pd.DataFrame:
    dates = atoms["market_date"].drop_duplicates().sort_values()
    index = atoms.groupby("market_date")["ret"].mean().reindex(dates).to_numpy()
    return pd.DataFrame({"market_date": dates.to_numpy(), "index_return": index, "regime": regime})


def test_the_regime_sets_the_cluster_cap():
    atoms = atoms_of()
    for regime, cap in [("NORMAL", 0.25), ("QUIET", 0.25), ("TURBULENT", 0.20), ("CRISIS", 0.15)]:
        config = AllocationConfig(engine="custom", profile="min_variance", fallback=[])
        book = target_weights(atoms, config, market=market_of(atoms, regime))
        rows = book.loc[book["kind"] == "atom"]
        assert (rows["regime"] == regime).all()
        # Four atoms in four clusters: a cap below 1/4 is infeasible and relaxes to 1/4.
        assert rows["cluster_cap"].iloc[0] == pytest.approx(max(cap, 0.25))
        assert bool(rows["cluster_cap_relaxed"].iloc[0]) == (cap < 0.25)


def test_the_beta_is_measured_against_the_market_index():
    atoms = atoms_of()
    market = market_of(atoms, "NORMAL")
    book = target_weights(atoms, EQUAL, market=market)
    matrix = atoms.pivot(index="market_date", columns="atom_id", values="ret").iloc[-120:]
    bench = market.set_index("market_date")["index_return"].reindex(matrix.index)
    slopes = [np.polyfit(bench.to_numpy(), matrix[a].to_numpy(), 1)[0] for a in matrix]
    assert book["beta"].iloc[0] == pytest.approx(np.mean(slopes), rel=1e-9)


def test_selection_scores_feed_the_barbell_by_atom():
    atoms = atoms_of(days=200)
    decisions = pd.DataFrame(
        {
            "symbol": [s for s, *_ in ATOMS],
            "logic": [lg for _, lg, *_ in ATOMS],
            "direction": [d for _, _, d, _ in ATOMS],
            "selected": True,
            "score": [0.1, 0.9, 0.2, 0.3],
        }
    )
    config = AllocationConfig(
        engine="custom", profile="barbell", fallback=[], max_weight=1.0,
        barbell={"aggressive_count": 1}, cluster_caps={"normal": 1.0},
    )  # fmt: skip
    book = target_weights(atoms, config, decisions=decisions)
    weights = book.loc[book["kind"] == "atom"].set_index("atom_id")["weight"]
    assert weights["AAA|meanrev|SHORT"] == pytest.approx(0.1)  # the best score: the sleeve
