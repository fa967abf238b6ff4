"""The carried book (tvs_pipeline/allocation/rebalance.py) and the track record it feeds."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.allocation.rebalance import BookKeeper, exposure_finding, rebalance_reason
from tvs_pipeline.config.schema import AllocationConfig
from tvs_pipeline.defs.carry import last_partition
from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.lake.storage import partition_path, write_parquet_atomic
from tvs_pipeline.simulation.friction import FrictionModel
from tvs_pipeline.simulation.track_record import TrackRecord

MINVAR = AllocationConfig(engine="custom", profile="min_variance", fallback=[], max_weight=0.5)
FRICTION = FrictionModel(5.0, 1.0, borrow_bps_per_year=50.0, borrow_by_sleeve={"crypto": 1000.0})
LISTINGS = [("AAA", 1), ("BBB", 1), ("CCC", -1), ("DDD", 1)]  # (symbol, sign)
START = pd.Timestamp("2025-01-01")


def _history(days: int, seed: int = 0) -> pd.DataFrame:
    """Listing returns (rows: every calendar day, crypto) for ``days`` days."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(START, periods=days, freq="D")
    return pd.DataFrame(
        rng.normal(0.001, 0.02, (days, len(LISTINGS))),
        index=dates,
        columns=[s for s, _ in LISTINGS],
    )


def _atoms(history: pd.DataFrame, day: pd.Timestamp, window: int = 120) -> pd.DataFrame:
    """The synthesis rows of ``day``: each atom's stream over the window ending ``day``."""
    rows = history.loc[:day].iloc[-window:]
    frames = []
    for symbol, sign in LISTINGS:
        direction = "LONG" if sign > 0 else "SHORT"
        frames.append(
            pd.DataFrame(
                {
                    "atom_id": f"{symbol}|trend|{direction}",
                    "symbol": symbol,
                    "logic": "trend",
                    "direction": direction,
                    "sign": sign,
                    "sleeve": "crypto",
                    "calendar": "24/7",
                    "market_date": rows.index,
                    "ret": sign * rows[symbol].to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _session(history: pd.DataFrame, day: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame({"symbol": history.columns, "ret": history.loc[day].to_numpy()})


def _run(keeper: BookKeeper, history: pd.DataFrame, days: list[pd.Timestamp]) -> list:
    return [keeper.decide_day(_atoms(history, d), _session(history, d), d.date()) for d in days]


def _keeper(step: int = 20, drift: float = 10.0) -> BookKeeper:
    return BookKeeper(MINVAR, FRICTION, step=step, drift_tolerance=drift)


def _physical(book: pd.DataFrame) -> pd.DataFrame:
    return book.loc[book["kind"] == "physical"].set_index("symbol")


def test_the_first_book_is_bought_from_cash_and_priced_by_the_friction():
    history = _history(130)
    book = _run(_keeper(), history, [history.index[-1]])[0]
    physical = _physical(book)
    assert book["rebalance_reason"].iloc[0] == "initial"
    assert (physical["held_weight"] == 0.0).all()
    turnover = float(physical["net_weight"].abs().sum())
    assert book["planned_turnover"].iloc[0] == pytest.approx(turnover, rel=1e-12)
    assert book["planned_cost"].iloc[0] == pytest.approx(6e-4 * turnover, rel=1e-12)
    atoms = book.loc[book["kind"] == "atom"]
    assert atoms["weight"].sum() == pytest.approx(1.0, abs=1e-9)
    # CCC is a short atom: its listing is held short.
    assert physical.loc["CCC", "net_weight"] < 0


def test_between_rebalances_the_book_drifts_like_held_positions():
    history = _history(132)
    days = list(history.index[-3:])
    first, second, third = _run(_keeper(), history, days)
    assert not second["rebalance"].iloc[0] and not third["rebalance"].iloc[0]
    # By hand: the book held over day 2 is day 1's, bought at day 1's cost; each listing's
    # weight grows by (1 + r) over the equity's 1 + net.
    p1 = _physical(first)
    r = history.loc[days[1]]
    cost = 6e-4 * p1["net_weight"].abs().sum()
    w = p1["net_weight"]
    short = (-w.clip(upper=0)).sum()
    borrow = short * 1000e-4 / 365
    net = float((w * r[w.index]).sum()) - cost - borrow
    expected = w * (1 + r[w.index]) / (1 + net)
    p2 = _physical(second)
    np.testing.assert_allclose(p2.loc[w.index, "held_weight"], expected, rtol=1e-12)
    np.testing.assert_allclose(p2.loc[w.index, "net_weight"], expected, rtol=1e-12)
    assert second["planned_turnover"].iloc[0] == 0.0
    # The atoms drift with their listings: a short atom's weight follows its short's value.
    atoms = second.loc[second["kind"] == "atom"].set_index("symbol")
    np.testing.assert_allclose(atoms.loc[w.index, "weight"] * [1, 1, -1, 1], expected, rtol=1e-12)


def test_rebalances_fall_on_every_step_th_session_of_a_fixed_grid():
    history = _history(150)
    days = list(history.index[-25:])
    books = _run(_keeper(step=7), history, days)
    reasons = [book["rebalance_reason"].iloc[0] for book in books]
    # By hand: a 24/7 calendar has a session every day, numbered from 2015-01-01.
    grid = [(d - pd.Timestamp("2015-01-01")).days % 7 == 0 for d in days]
    assert reasons[0] == "initial"
    assert reasons[1:] == ["cadence" if g else "" for g in grid[1:]]


def test_an_atom_that_changes_side_forces_a_rebalance_to_its_new_side():
    # A mean-reversion atom re-decides its side at its own timescale: AAA's turns short on
    # the second day, off the cadence grid; the book is re-optimised and holds AAA short.
    history = _history(130)
    first_day, second_day = history.index[-2:]
    keeper = _keeper(step=1000)
    first = keeper.decide_day(_atoms(history, first_day), _session(history, first_day),
                              first_day.date())  # fmt: skip
    assert _physical(first).loc["AAA", "net_weight"] > 0
    flipped = _atoms(history, second_day)
    aaa = flipped["symbol"] == "AAA"
    flipped.loc[aaa, "sign"] = -1
    flipped.loc[aaa, "ret"] = -flipped.loc[aaa, "ret"]
    second = keeper.decide_day(flipped, _session(history, second_day), second_day.date())
    assert second["rebalance_reason"].iloc[0] == "signal"
    assert _physical(second).loc["AAA", "net_weight"] < 0
    # The same atoms without the flip are held.
    again = _keeper(step=1000)
    _run(again, history, [first_day])
    held = again.decide_day(_atoms(history, second_day), _session(history, second_day),
                            second_day.date())  # fmt: skip
    assert held["rebalance_reason"].iloc[0] == ""


def test_drift_past_the_tolerance_forces_a_rebalance():
    history = _history(130)
    books = _run(_keeper(step=1000, drift=1e-9), history, list(history.index[-2:]))
    assert books[1]["rebalance_reason"].iloc[0] == "drift"
    assert books[1]["drift"].iloc[0] > 1e-9


def test_a_rebalance_that_pays_friction_trades_less_than_one_that_does_not():
    history = _history(140)
    days = list(history.index[-6:])
    books = _run(_keeper(step=1000), history, days[:-1])
    day = days[-1]
    turnover = {}
    for name, friction in (("paid", FRICTION), ("free", FrictionModel(0.0, 0.0, 1000.0))):
        # The same stored book and a drift tolerance of zero: both re-optimise from it.
        keeper = BookKeeper(MINVAR, friction, 1000, 1e-12, books[-1], days[-2].date())
        book = keeper.decide_day(_atoms(history, day), _session(history, day), day.date())
        assert book["rebalance_reason"].iloc[0] == "drift"
        turnover[name] = book["planned_turnover"].iloc[0]
    assert turnover["paid"] < turnover["free"]


def test_a_hole_in_the_record_is_refused():
    history = _history(130)
    day = history.index[-1]
    book = _run(_keeper(), history, [history.index[-4]])[0]
    keeper = BookKeeper(MINVAR, FRICTION, 20, 10.0, book, history.index[-4].date())
    with pytest.raises(DataError, match="last stored book is from 2025-05-07, expected 2025-05-09"):
        keeper.decide_day(_atoms(history, day), _session(history, day), day.date())


def test_a_run_resumed_from_the_stored_book_equals_one_run():
    history = _history(140)
    days = list(history.index[-8:])
    whole = _run(_keeper(step=3), history, days)
    resumed = _run(
        BookKeeper(MINVAR, FRICTION, 3, 10.0, whole[3], days[3].date()), history, days[4:]
    )
    for a, b in zip(whole[4:], resumed, strict=True):
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_a_book_read_back_from_the_lake_resumes_to_the_same_frames(tmp_path):
    # A nightly run starts from the book the lake stored (Parquet, read through DuckDB); a
    # backfill carries it in memory. Both must write the same frame, dtypes and column order
    # included, on rebalance days and on held days alike.
    history = _history(140)
    days = list(history.index[-8:])
    whole = _run(_keeper(step=3), history, days)
    root = str(tmp_path / "lake")
    nightly = []
    for i, day in enumerate(days[1:], start=1):
        stored = whole[i - 1] if i == 1 else nightly[-1]
        write_parquet_atomic(
            stored.assign(date=days[i - 1]), partition_path(root, "book", days[i - 1])
        )
        previous, previous_day = last_partition(LakeReader(root), "book", day.date())
        keeper = BookKeeper(MINVAR, FRICTION, 3, 10.0, previous, previous_day)
        nightly.append(keeper.decide_day(_atoms(history, day), _session(history, day), day.date()))
    assert {bool(book["rebalance"].iloc[0]) for book in whole[1:]} == {True, False}
    for a, b in zip(whole[1:], nightly, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_the_track_record_earns_the_stored_book_of_the_day_before():
    history = _history(135)
    days = list(history.index[-10:])
    books = _run(_keeper(step=4), history, days)
    record = TrackRecord(FRICTION)
    rows = [
        record.record_day(
            book, _session(history, day + timedelta(days=1)), (day + timedelta(days=1)).date()
        )
        for book, day in zip(books[:-1], days[:-1], strict=True)
    ]
    ledger = pd.concat(rows, ignore_index=True)
    equity = 1.0
    for i, (book, row) in enumerate(zip(books[:-1], rows, strict=True)):
        p = _physical(book)
        r = history.loc[days[i + 1], p.index]
        turnover = (p["net_weight"] - p["held_weight"]).abs().sum()
        short = (-p["net_weight"].clip(upper=0)).sum()
        borrow = short * 1000e-4 / 365
        net = float((p["net_weight"] * r).sum()) - 6e-4 * turnover - borrow
        equity *= 1 + net
        assert row["net"].iloc[0] == pytest.approx(net, abs=1e-14)
        assert row["turnover"].iloc[0] == pytest.approx(turnover, abs=1e-14)
        assert row["decided_on"].iloc[0] == days[i]
        # The next book's drifted holdings are the ledger's: the same step, the same numbers.
        nxt = _physical(books[i + 1])
        drifted = p["net_weight"] * (1 + r) / (1 + net)
        np.testing.assert_allclose(nxt.loc[p.index, "held_weight"], drifted, rtol=1e-12)
    assert ledger["equity"].iloc[-1] == pytest.approx(equity, rel=1e-12)


def test_the_track_record_refuses_a_hole():
    record = TrackRecord(FRICTION, pd.DataFrame({"equity": [1.1]}), date(2025, 1, 1))
    empty = pd.DataFrame({"symbol": [], "ret": []})
    with pytest.raises(DataError, match="last ledger row is from 2025-01-01"):
        record.record_day(pd.DataFrame(columns=["kind"]), empty, date(2025, 1, 3))


def test_rebalance_reason_by_hand():
    kwargs = {"calendars": ["XNYS"], "step": 5, "drift": 0.0, "tolerance": 0.1}
    assert rebalance_reason(has_book=False, as_of=date(2025, 1, 4), **kwargs) == "initial"
    # Saturday is no NYSE session: never a cadence day.
    assert rebalance_reason(has_book=True, as_of=date(2025, 1, 4), **kwargs) == ""
    assert (
        rebalance_reason(has_book=True, as_of=date(2025, 1, 4), **{**kwargs, "drift": 0.2})
        == "drift"
    )


def test_exposure_finding_names_a_book_off_its_target():
    history = _history(132)
    first, second = _run(_keeper(), history, list(history.index[-2:]))
    assert exposure_finding(first) == "" and exposure_finding(second) == ""
    # Between rebalances the atoms drift away from 1 and nothing is wrong.
    assert not second["rebalance"].iloc[0]
    assert abs(second.loc[second["kind"] == "atom", "weight"].sum() - 1.0) > 1e-6
    off = first.copy()
    off.loc[off["kind"] == "physical", "net_weight"] *= 0.5
    assert exposure_finding(off).startswith("Σ net weight")
    short = first.copy()
    short.loc[short["kind"] == "atom", "weight"] *= 0.9
    assert "the traded atoms sum to 0.900000, expected 1" in exposure_finding(short)
