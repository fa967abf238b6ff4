"""The walk-forward tournament on a demo lake: a cell rebuilt by hand, no look-ahead, the asset."""

from __future__ import annotations

from datetime import date

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.allocation.book import target_weights
from tvs_pipeline.config import load_profile
from tvs_pipeline.config.schema import TournamentConfig, TournamentGrid
from tvs_pipeline.definitions import ASSETS
from tvs_pipeline.defs.assets.tournament import (
    DAY_INPUTS,
    GRID_TAG,
    PROPOSAL_CAVEAT,
    START_TAG,
    partition_stamps,
    proposal_markdown,
    tournament,
    tournament_inputs,
)
from tvs_pipeline.defs.resources import build_resources
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.lake.storage import partition_path, write_parquet_atomic
from tvs_pipeline.selection.day import select_day
from tvs_pipeline.settings import load_settings
from tvs_pipeline.simulation.tournament import run_tournament, strategy_name
from tvs_pipeline.synthesis.atoms import build_atoms
from tvs_pipeline.synthesis.positions import SIGNAL_LOGICS, positions

pytestmark = pytest.mark.slow

START, END = "2026-05-20", "2026-06-30"
TWO_CELLS = TournamentConfig(
    grid="two",
    grids={
        "two": TournamentGrid(
            selection=["htr_3_4"], engines=["custom"], profiles=["equal_weight", "min_variance"]
        )
    },
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """A demo lake of the champion path over six weeks (one range run)."""
    settings = load_settings({"TVS_HOME": str(tmp_path_factory.mktemp("home"))})
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            ASSETS,
            instance=instance,
            resources=build_resources(settings),
            tags={
                "dagster/asset_partition_range_start": START,
                "dagster/asset_partition_range_end": END,
            },
        )
    assert result.success
    profile = load_profile(settings.profile)
    # A cadence of 7 sessions: several rebalances in six weeks.
    run = profile.run.model_copy(update={"step": 7})
    return settings, profile.model_copy(update={"tournament": TWO_CELLS, "run": run})


def _inputs(lake):
    settings, profile = lake
    reader = LakeReader(settings.lake_root)
    return tournament_inputs(
        reader, profile, date.fromisoformat(START), date.fromisoformat(END), "two"
    )


def _hand_ledger(weights: dict[pd.Timestamp, pd.Series], returns: pd.DataFrame, rate, borrow):
    """Net returns of books traded at their day's close and held, in the plainest loop.

    The trade of a book decided on t is paid on the next day; positions drift with their
    listings over equity; shorts pay borrow per calendar day since the last session.
    """
    held, traded, net = pd.Series(dtype="float64"), set(), {}
    decided = sorted(weights)
    last_session = decided[0]
    for day in returns.index[returns.index > decided[0]]:
        cost = 0.0
        latest = [d for d in decided if d < day][-1]
        if latest not in traded:
            target = weights[latest]
            both = held.index.union(target.index)
            moved = target.reindex(both, fill_value=0.0) - held.reindex(both, fill_value=0.0)
            cost = rate * float(moved.abs().sum())
            held, traded = target[target.abs() > 1e-12], traded | {latest}
        r = returns.loc[day, held.index]
        session = bool(r.notna().any())
        r = r.fillna(0.0)
        days = (day - last_session).days if session else 0
        shorts = -held.clip(upper=0.0)
        fee = float((shorts * borrow.reindex(held.index).fillna(0.0)).sum()) / 1e4 * days / 365
        total = float((held * r).sum()) - cost - fee
        if session or cost:
            net[day] = total
        held = held * (1 + r) / (1 + total)
        last_session = day if session else last_session
    return pd.Series(net)


def _nightly_sides(panel: pd.DataFrame, atoms: pd.DataFrame) -> pd.Series:
    """Each atom's side at the close of the panel's day, as that day's synthesis signs it
    (an atom whose listing left the panel is no atom of that day: no side)."""
    sides = {}
    for atom in atoms.itertuples(index=False):
        own = panel.loc[panel["symbol"] == atom.symbol].sort_values("market_date")["ret"]
        if own.empty:
            continue
        r = own.to_numpy(dtype=float)
        sides[atom.atom_id] = positions(r, atom.logic, atom.direction, int(atom.timescale))[-1]
    return pd.Series(sides, dtype="int64")


def test_a_cell_rebuilt_by_hand_from_the_stored_days(lake):
    _, profile = lake
    inputs = _inputs(lake)
    result = run_tournament(**inputs)
    name = strategy_name("htr_3_4", "custom", "equal_weight")
    assert set(result.board["strategy"]) >= {name, strategy_name("htr_3_4", "equal", "selected")}
    assert len(inputs["dates"]) >= 3
    # By hand: each rebalance date's stored partitions, the daily path's functions, no loop of
    # the tournament's own; between the dates, each day's stored panel signs the held atoms of
    # a signal logic as that day's synthesis would, and a changed side re-signs the book.
    config = profile.allocation.updated(engine="custom", profile="equal_weight", fallback=[])
    weights, resigned = {}, 0
    dates = list(inputs["dates"])
    for at, day in enumerate(dates):
        data = inputs["load_day"](day)
        decided = select_day(data.panel, data.dedup, profile.selection.params(), day, "htr_3_4")
        book = target_weights(build_atoms(decided, data.panel), config, decided, data.market)
        atoms = book.loc[(book["kind"] == "atom") & (book["weight"] != 0)].set_index("atom_id")
        sign = atoms["sign"].astype("int64")
        weights[pd.Timestamp(day)] = (atoms["weight"] * sign).groupby(atoms["symbol"]).sum()
        signal = atoms.loc[atoms["logic"].isin(SIGNAL_LOGICS)].reset_index()
        until = dates[at + 1] if at + 1 < len(dates) else pd.Timestamp(END).date()
        for later in pd.date_range(
            day, until, inclusive="neither" if at + 1 < len(dates) else "right"
        ):
            if signal.empty:
                break
            today = _nightly_sides(inputs["load_day"](later.date()).panel, signal)
            if (today != sign.reindex(today.index)).any():
                sign = sign.copy()
                sign.loc[today.index] = today
                weights[later] = (atoms["weight"] * sign).groupby(atoms["symbol"]).sum()
                resigned += 1
    assert resigned > 0  # the demo's mean-reversion and rating atoms flip between the dates
    expected = _hand_ledger(weights, inputs["returns"], inputs["friction"].rate, inputs["borrow"])
    got = result.returns.loc[result.returns["strategy"] == name].set_index("date")["net"]
    common = expected.index.intersection(got.index)
    assert len(common) >= 20
    np.testing.assert_allclose(got.loc[common], expected.loc[common], atol=1e-12)
    vectorized = result.board.loc[result.board["simulator"] == "vectorized"]
    row = vectorized.set_index("strategy").loc[name]
    assert row["signal_rebalances"] == resigned and row["rebalances"] == len(weights)
    ok = result.board.loc[result.board["status"] == "ok"]
    assert ok["deflated_sharpe"].between(0, 1).all() and 0 <= result.pbo <= 1
    # The leaders were re-run through cvxportfolio, and the two simulators agree.
    again = result.board.loc[result.board["simulator"] == "cvxportfolio"]
    assert len(again) and (again["max_simulator_gap"] < 1e-12).all()


def test_nothing_at_a_rebalance_date_reads_what_comes_after(lake):
    inputs = _inputs(lake)
    base = run_tournament(**inputs)
    cut = pd.Timestamp(inputs["dates"][1])
    shocked = inputs["returns"].copy()
    shocked.loc[shocked.index > cut] = shocked.loc[shocked.index > cut] * 3.0 + 0.01
    loaded = []

    def load_day(day):
        loaded.append(day)
        return inputs["load_day"](day)

    other = run_tournament(**{**inputs, "returns": shocked, "load_day": load_day})
    assert loaded == list(inputs["dates"])  # each date reads its own partitions only
    # Every book up to the cut, and every date's decided book after it (from its own stored
    # partitions), is unchanged; the re-signs after the cut follow the perturbed returns.
    decided = pd.DatetimeIndex(inputs["dates"])
    for name, weights in base.decisions.items():
        kept = weights.index[(weights.index <= cut) | weights.index.isin(decided)]
        pd.testing.assert_frame_equal(other.decisions[name].loc[kept], weights.loc[kept])
    before = base.returns.loc[base.returns["date"] <= cut].reset_index(drop=True)
    after = other.returns.loc[other.returns["date"] <= cut].reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)


def test_partition_stamps_change_with_a_rewrite_and_need_every_asset(tmp_path):
    """A day's stamp is there once every asset holds the day, and a rewrite of one of its
    files (same rows, written again) changes it; files not rewritten keep theirs."""
    root = str(tmp_path / "lake")
    frame = pd.DataFrame({"x": [1.0]})
    one, two = date(2025, 6, 2), date(2025, 6, 3)
    for day in (one, two):
        write_parquet_atomic(frame, partition_path(root, "dedup", day))
    write_parquet_atomic(frame, partition_path(root, "market", one))
    before = partition_stamps(root, ["dedup", "market"])
    untouched = partition_stamps(root, ["dedup"])
    assert before(one) is not None and before(two) is None  # no `market` on the second day
    write_parquet_atomic(frame, partition_path(root, "market", one))
    write_parquet_atomic(frame, partition_path(root, "market", two))
    after = partition_stamps(root, ["dedup", "market"])
    assert after(one) != before(one) and after(two) is not None
    again = partition_stamps(root, ["dedup"])
    assert [again(day) for day in (one, two)] == [untouched(day) for day in (one, two)]


def test_books_are_reused_only_while_their_inputs_and_parameters_are_the_same(lake):
    settings, profile = lake
    inputs = _inputs(lake)
    stamps = partition_stamps(settings.lake_root, DAY_INPUTS)
    fresh = run_tournament(**inputs, stamps=stamps)
    dates = list(inputs["dates"])
    assert set(fresh.books["rebalance_date"].dt.date) == set(dates)
    loaded = []

    def load_day(day):
        loaded.append(day)
        return inputs["load_day"](day)

    again = run_tournament(**{**inputs, "load_day": load_day}, stamps=stamps, known=fresh.books)
    assert loaded == [] and again.reused == len(dates)  # one selection engine in the grid
    pd.testing.assert_frame_equal(again.board, fresh.board)
    pd.testing.assert_frame_equal(again.returns, fresh.returns)
    # A rewritten partition of one date: that date alone is read and decided again.
    changed = dates[1]
    moved = run_tournament(
        **{**inputs, "load_day": load_day},
        stamps=lambda day: stamps(day) + ("|rewritten" if day == changed else ""),
        known=fresh.books,
    )
    assert loaded == [changed] and moved.reused == len(dates) - 1
    pd.testing.assert_frame_equal(moved.board, fresh.board)
    # Other parameters: nothing is reused.
    loaded.clear()
    other = profile.allocation.updated(max_weight=0.5)
    run_tournament(
        **{**inputs, "load_day": load_day, "allocation": other}, stamps=stamps, known=fresh.books
    )
    assert loaded == dates


def test_the_asset_stores_the_board_and_the_series_in_the_lake(lake):
    settings, _ = lake
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [tournament],
            instance=instance,
            partition_key=END,
            resources=build_resources(settings),
            tags={START_TAG: START, GRID_TAG: "nightly"},
        )
    assert result.success
    reader = LakeReader(settings.lake_root)
    board = reader.read("tournament", where="date = ?", params=[date.fromisoformat(END)])
    series = reader.read("tournament_returns")
    assert set(board["grid"]) == {"nightly"} and (board["start"] == pd.Timestamp(START)).all()
    assert set(series["strategy"]) <= set(board["strategy"])
    assert board["status"].eq("ok").sum() >= 6
    assert (board["simulator"] == "cvxportfolio").sum() == 1  # the nightly grid's leader
    proposal = reader.read("tournament_regimes")
    assert proposal.groupby("regime")["proposed"].sum().eq(1).all()  # one profile per regime
    # The same partition again: every book comes from the stored ones, the board is the same.
    with dg.instance_for_test() as instance:
        again = dg.materialize(
            [tournament],
            instance=instance,
            partition_key=END,
            resources=build_resources(settings),
            tags={START_TAG: START, GRID_TAG: "nightly"},
        )
        books = again.asset_materializations_for_node("walk_forward_tournament")
    reused = {m.asset_key.to_user_string(): m.metadata.get("reused") for m in books}
    assert reused["tournament_books"].value > 0
    second = reader.read("tournament", where="date = ?", params=[date.fromisoformat(END)])
    pd.testing.assert_frame_equal(second, board)


def test_the_regime_proposal_says_its_choice_is_in_sample():
    """Only the proposed row of each regime is shown, and the caveat follows the table."""
    regimes = pd.DataFrame(
        {
            "regime": ["CALM", "CALM", "STRESS"],
            "profile": ["max_sharpe", "min_variance", "min_variance"],
            "strategy": ["a", "b", "c"],
            "sessions": [40, 40, 12],
            "sharpe": [0.2, 0.1, 0.05],
            "deflated_sharpe": [0.9, 0.6, 0.4],
            "proposed": [True, False, True],
        }
    )
    text = proposal_markdown(regimes)
    lines = text.splitlines()
    assert [line.split("|")[2].strip() for line in lines[2:4]] == ["max_sharpe", "min_variance"]
    assert "| b " not in text and lines[-1] == PROPOSAL_CAVEAT and "in sample" in PROPOSAL_CAVEAT
