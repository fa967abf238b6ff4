"""A demo day end to end through synthesis: logics and timescales mixed in one atom matrix,
weights traced to physical listings, and the new streams' no-look-ahead proof."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.allocation.book import target_weights
from tvs_pipeline.allocation.params import AllocationParams
from tvs_pipeline.config import load_profile
from tvs_pipeline.funnel.dedup import dedup_day
from tvs_pipeline.funnel.discovery import discover
from tvs_pipeline.funnel.enrichment import enrich
from tvs_pipeline.funnel.health import classify_health
from tvs_pipeline.funnel.history import validate_bars
from tvs_pipeline.funnel.normalization import returns_panel, wide_returns
from tvs_pipeline.market.demo import DemoMarket
from tvs_pipeline.selection import select
from tvs_pipeline.selection.day import CANDIDATE_NAMES
from tvs_pipeline.synthesis import atom_matrix, build_atoms, composition

DAY = date(2025, 12, 31)


def synthesis_day(market: DemoMarket, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The day's champion decisions and atoms, built as the asset graph builds them."""
    profile = load_profile("demo")
    run = profile.run
    found = discover(market, profile.scanners, day)
    start = day - timedelta(days=run.lookback_days - 1)
    bars = validate_bars(market.bars(found["symbol"].unique().tolist(), start, day))
    listings = found.drop_duplicates("symbol")[["symbol", "sleeve", "asset_class", "calendar"]]
    health = classify_health(
        bars, listings, day, run.lookback_days, run.history_floor, profile.health
    )
    features = enrich(found, health, bars, day)
    candidates = dedup_day(found, features).rename(columns=CANDIDATE_NAMES)
    panel = returns_panel(bars, features.loc[features["status"] == "OK", "symbol"].tolist())
    decisions = select(wide_returns(panel), candidates, "htr_3_4")
    return decisions, build_atoms(decisions, panel)


@pytest.fixture(scope="module")
def day() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthesis_day(DemoMarket(seed=7), DAY)


def test_the_matrix_mixes_logics_and_timescales(day):
    _, atoms = day
    comp = composition(atoms)
    assert set(comp["logic"]) == {"trend", "mean_reversion", "rating"}
    assert comp.groupby("logic")["timescale"].unique().map(list).to_dict() == {
        "mean_reversion": [5],
        "rating": [10],
        "trend": [20],
    }
    matrix = atom_matrix(atoms)
    assert set(matrix.columns) == set(comp["atom_id"])
    # a mean-reversion atom changes side at its rebalances; a trend atom never does
    sides = atoms.groupby("atom_id")["position"].nunique()
    logic = comp.set_index("atom_id")["logic"]
    assert (sides[logic[logic == "trend"].index] == 1).all()
    assert (sides[logic[logic == "mean_reversion"].index] == 2).mean() > 0.5


def test_weights_trace_from_atoms_to_physical_listings(day):
    decisions, atoms = day
    book = target_weights(atoms, AllocationParams(), decisions)
    rows = book.loc[book["kind"] == "atom"]
    assert {"logic", "timescale"} <= set(rows.columns)
    assert set(rows.loc[rows["weight"] > 0, "logic"]) >= {"trend", "mean_reversion"}
    assert rows.loc[rows["weight"] > 0, "timescale"].nunique() >= 2
    # each physical net weight is the sum of sign x weight over its listing's atoms
    comp = composition(atoms).set_index("atom_id")
    signed = rows.set_index("atom_id")["weight"] * comp["sign"].reindex(rows["atom_id"]).to_numpy()
    by_symbol = signed.groupby(comp["symbol"].reindex(signed.index).to_numpy()).sum()
    physical = book.loc[book["kind"] == "physical"].set_index("symbol")["net_weight"]
    pd.testing.assert_series_equal(
        physical.sort_index(), by_symbol.reindex(physical.index).sort_index(), check_names=False
    )


@pytest.mark.slow
def test_perturbing_after_d_leaves_the_atoms_of_d_unchanged(day):
    """Every draw after D from another stream (bars after D change): the decisions and every
    atom stream of D, mean-reversion and rating sides included, are frame-equal."""
    decisions, atoms = day
    shocked = DemoMarket(seed=7, shock_after=DAY)
    later = DAY + timedelta(days=40)
    for symbol in atoms["symbol"].unique()[:3]:  # the shock bites: bars after D differ
        moved = shocked.bars([symbol], DAY + timedelta(days=1), later)["close"].to_numpy()
        kept = DemoMarket(seed=7).bars([symbol], DAY + timedelta(days=1), later)["close"]
        assert len(moved) and not np.allclose(moved, kept.to_numpy())
    again_decisions, again_atoms = synthesis_day(shocked, DAY)
    pd.testing.assert_frame_equal(again_decisions, decisions)
    pd.testing.assert_frame_equal(again_atoms, atoms)
