import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.selection.parity import (
    PARITY_COLUMNS,
    ParityThresholds,
    compare_decisions,
    day_parity,
    parity_verdict,
    spearman,
    weight_distance,
)


def decisions(rows):
    """rows: (symbol, direction, selected, score)."""
    return pd.DataFrame(rows, columns=["symbol", "direction", "selected", "score"])


CHAMPION = decisions(
    [
        ("A", "LONG", True, 0.9),
        ("B", "LONG", True, 0.8),
        ("C", "SHORT", True, 0.7),
        ("D", "LONG", False, 0.1),
        ("E", "LONG", False, np.nan),
    ]
)
CHALLENGER = decisions(
    [
        ("A", "LONG", True, 0.85),
        ("B", "LONG", False, 0.5),
        ("C", "SHORT", True, 0.75),
        ("D", "LONG", True, 0.6),
        ("E", "LONG", False, 0.2),
        ("F", "LONG", True, 0.3),
    ]
)
W_CHAMPION = pd.DataFrame({"symbol": ["A", "B", "C"], "net_weight": [0.5, 0.3, -0.2]})
W_CHALLENGER = pd.DataFrame({"symbol": ["A", "C", "D"], "net_weight": [0.4, -0.2, 0.4]})


def test_hand_sized_day():
    before = CHAMPION.copy(), CHALLENGER.copy(), W_CHAMPION.copy(), W_CHALLENGER.copy()
    out = compare_decisions(CHAMPION, CHALLENGER, W_CHAMPION, W_CHALLENGER)
    for frame, kept in zip((CHAMPION, CHALLENGER, W_CHAMPION, W_CHALLENGER), before, strict=True):
        pd.testing.assert_frame_equal(frame, kept)
    assert list(out.columns) == list(PARITY_COLUMNS) and len(out) == 1
    row = out.iloc[0]
    # Selected: champion {A, B, C}, challenger {A, C, D, F}.
    assert (row["selected_champion"], row["selected_challenger"]) == (3, 4)
    assert (row["both"], row["champion_only"], row["challenger_only"]) == (2, 1, 2)
    assert (row["candidates_champion"], row["candidates_challenger"], row["common"]) == (5, 6, 5)
    np.testing.assert_allclose(row["jaccard"], 2 / 5, rtol=1e-12)
    # Scored pairs A, B, C, D (E has no champion score). Ranks: champion (4, 3, 2, 1),
    # challenger (4, 1, 3, 2); sum d^2 = 0 + 4 + 1 + 1 = 6; rho = 1 - 6 * 6 / (4 * 15) = 0.4.
    assert row["scored_pairs"] == 4
    np.testing.assert_allclose(row["spearman"], 0.4, rtol=1e-12)
    np.testing.assert_allclose(row["max_score_diff"], 0.5, rtol=1e-12)  # D: |0.1 - 0.6|
    # Union A, B, C, D: |0.5 - 0.4| + |0.3 - 0| + |-0.2 + 0.2| + |0 - 0.4| = 0.8.
    np.testing.assert_allclose(row["weight_l1"], 0.8, rtol=1e-12)
    assert out["both"].dtype == np.int64 and out["jaccard"].dtype == np.float64


def test_identical_days_agree_fully():
    out = compare_decisions(CHAMPION, CHAMPION, W_CHAMPION, W_CHAMPION).iloc[0]
    assert out["jaccard"] == 1.0 and out["spearman"] == 1.0
    assert out["max_score_diff"] == 0.0 and out["weight_l1"] == 0.0
    assert parity_verdict(out) == (True, [])


def test_no_weights_no_selection_and_no_pairs():
    none = CHAMPION.assign(selected=False)
    out = compare_decisions(none, none).iloc[0]
    assert out["jaccard"] == 1.0  # both select nothing: the same (empty) set
    assert np.isnan(out["weight_l1"])
    lonely = compare_decisions(CHAMPION.iloc[:1], CHALLENGER.iloc[1:2]).iloc[0]
    assert lonely["common"] == 0 and lonely["scored_pairs"] == 0
    assert np.isnan(lonely["spearman"]) and np.isnan(lonely["max_score_diff"])
    assert lonely["jaccard"] == 0.0


def test_direction_and_logic_are_part_of_the_key():
    flipped = CHAMPION.assign(direction=["SHORT", "LONG", "SHORT", "LONG", "LONG"])
    out = compare_decisions(CHAMPION, flipped).iloc[0]
    assert out["common"] == 4 and out["champion_only"] == 1 and out["challenger_only"] == 1
    two = CHAMPION.assign(logic=["trend", "trend", "trend", "trend", "mean"])
    other = CHAMPION.assign(logic=["trend", "trend", "trend", "trend", "trend"])
    assert compare_decisions(two, other).iloc[0]["common"] == 4  # E differs by logic
    assert compare_decisions(two, CHAMPION).iloc[0]["common"] == 5  # logic on one side only


def test_spearman_by_hand_with_ties_and_nans():
    # ranks (1.5, 1.5, 3) and (1, 2, 3): centred (-.5, -.5, 1), (-1, 0, 1) -> 1.5 / sqrt(3)
    np.testing.assert_allclose(spearman([1, 1, 2], [1, 2, 3]), np.sqrt(3) / 2, rtol=1e-12)
    assert spearman([1, 2, 3, np.nan], [3, 2, 1, 5]) == -1.0
    assert np.isnan(spearman([1, np.nan], [1, 2]))  # one pair
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))  # constant side


def test_weight_distance_missing_symbols_are_zero():
    a = pd.DataFrame({"symbol": ["X"], "net_weight": [1.0]})
    b = pd.DataFrame({"symbol": ["Y"], "net_weight": [-1.0]})
    assert weight_distance(a, b) == 2.0
    assert weight_distance(a, a) == 0.0


def test_verdict_thresholds_and_reasons():
    row = compare_decisions(CHAMPION, CHALLENGER, W_CHAMPION, W_CHALLENGER)
    passed, reasons = parity_verdict(row)
    assert not passed
    assert reasons == [
        "jaccard 0.400 < 0.8 (2 both, 1 champion-only, 2 challenger-only)",
        "spearman 0.400 < 0.9 over 4 pairs",
        "weight L1 0.8000 > 0.25",
    ]
    lenient = ParityThresholds(jaccard_min=0.4, spearman_min=0.4, weight_l1_max=0.8)
    assert parity_verdict(row, lenient) == (True, [])
    tight = ParityThresholds(jaccard_min=0.4, spearman_min=0.4, weight_l1_max=1.0,
                             score_diff_max=0.1)  # fmt: skip
    assert parity_verdict(row.iloc[0], tight) == (False, ["max score difference 0.5 > 0.1"])
    flat = compare_decisions(CHAMPION.assign(score=1.0), CHALLENGER)
    assert parity_verdict(flat, lenient)[1] == [
        "spearman undefined over 5 scored pairs (a constant score)"
    ]


@pytest.mark.parametrize(("pool", "passed"), [(9, True), (8, False)])
def test_one_swap_passes_from_a_pool_of_nine(pool, passed):
    symbols = [f"S{k}" for k in range(pool + 1)]
    rows = [(s, "LONG", k < pool, 1.0 - k / 100) for k, s in enumerate(symbols)]
    champion = decisions(rows)
    challenger = champion.assign(selected=[k != 0 for k in range(pool + 1)])  # S0 out, S<pool> in
    row = compare_decisions(champion, challenger).iloc[0]
    np.testing.assert_allclose(row["jaccard"], (pool - 1) / (pool + 1), rtol=1e-12)
    assert parity_verdict(row)[0] is passed


def test_default_thresholds():
    t = ParityThresholds()
    assert (t.jaccard_min, t.spearman_min, t.weight_l1_max, t.score_diff_max) == (
        0.8, 0.9, 0.25, None
    )  # fmt: skip


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: compare_decisions(CHAMPION.drop(columns="score"), CHALLENGER), DataError,
         r"parity champion: missing columns \['score'\]"),
        (lambda: compare_decisions(CHAMPION, pd.concat([CHALLENGER, CHALLENGER.iloc[:1]])),
         DataError, r"parity challenger: candidate \('A', 'LONG'\) appears more than once"),
        (lambda: compare_decisions(CHAMPION.assign(selected=None), CHALLENGER), DataError,
         "'selected' has missing values"),
        (lambda: compare_decisions(CHAMPION, CHALLENGER, W_CHAMPION), DataError,
         "weights given for the champion only"),
        (lambda: compare_decisions(CHAMPION, CHALLENGER, None, W_CHALLENGER), DataError,
         "weights given for the challenger only"),
        (lambda: weight_distance(W_CHAMPION.drop(columns="net_weight"), W_CHALLENGER),
         DataError, r"champion weights: missing columns \['net_weight'\]"),
        (lambda: weight_distance(W_CHAMPION, pd.concat([W_CHALLENGER, W_CHALLENGER])),
         DataError, "symbol 'A' appears more than once"),
        (lambda: weight_distance(W_CHAMPION.assign(net_weight=np.inf), W_CHALLENGER),
         DataError, "net_weight must be finite"),
        (lambda: parity_verdict(pd.concat([compare_decisions(CHAMPION, CHAMPION)] * 2)),
         DataError, "expected one row, got 2"),
        (lambda: parity_verdict(pd.Series({"jaccard": 1.0})), DataError, "missing columns"),
        (lambda: ParityThresholds(jaccard_min=1.5), ConfigError, "jaccard_min 1.5"),
        (lambda: ParityThresholds(spearman_min=-2), ConfigError, "spearman_min -2"),
        (lambda: ParityThresholds(weight_l1_max=-0.1), ConfigError, "weight_l1_max -0.1"),
        (lambda: ParityThresholds(score_diff_max=float("nan")), ConfigError,
         "score_diff_max nan"),
    ],
    ids=["columns", "duplicate", "selected-na", "champion-weights", "challenger-weights",
         "weight-columns", "weight-duplicate", "weight-finite", "verdict-rows",
         "verdict-columns", "jaccard", "spearman", "l1", "score-diff"],
)  # fmt: skip
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def book(weights):
    """An allocation day: an atom row and the physical rows of ``weights``."""
    physical = weights.assign(kind="physical")
    return pd.concat([pd.DataFrame({"kind": ["atom"], "atom_id": ["X"]}), physical])


def test_day_parity_names_the_engines_and_gives_the_verdict():
    champion, challenger = CHAMPION.assign(engine="htr_3_4"), CHALLENGER.assign(engine="v4")
    row = day_parity(champion, challenger, book(W_CHAMPION), book(W_CHALLENGER))
    expected = compare_decisions(CHAMPION, CHALLENGER, W_CHAMPION, W_CHALLENGER)
    pd.testing.assert_frame_equal(row[list(PARITY_COLUMNS)], expected)
    passed, reasons = parity_verdict(expected)
    assert row.loc[0, "champion_engine"] == "htr_3_4" and row.loc[0, "challenger_engine"] == "v4"
    assert row.loc[0, "passed"] == passed is False
    assert row.loc[0, "reasons"] == "; ".join(reasons) and "jaccard" in row.loc[0, "reasons"]
    loose = ParityThresholds(jaccard_min=0.0, spearman_min=-1.0, weight_l1_max=2.0)
    same = day_parity(champion, challenger, book(W_CHAMPION), book(W_CHALLENGER), loose)
    assert bool(same.loc[0, "passed"]) and same.loc[0, "reasons"] == ""


def test_day_parity_of_an_empty_side_has_no_engine():
    empty = CHAMPION.iloc[:0].assign(engine=pd.Series(dtype="str"))
    row = day_parity(empty, CHALLENGER.assign(engine="v4"), book(W_CHAMPION), book(W_CHALLENGER))
    assert row.loc[0, "champion_engine"] == "" and row.loc[0, "candidates_champion"] == 0
