import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.ladder import ladder_reasons, run_ladder
from tvs_pipeline.selection.vetoes import VetoThresholds, hard_veto_reasons

CLEAN = {"n_obs": 300, "entropy": 0.99, "hurst": 0.53, "efficiency_dir": 0.2,
         "momentum": 0.3, "survival": 1.0}  # fmt: skip
NOISY = {"entropy": 0.9995}  # strict ceiling fails, relaxed passes, above the hard stop
FLAT = {"efficiency_dir": 0.0}  # fails the floor in stages 1 and 2


def frame(rows):
    """rows: (symbol, cluster, score, feature overrides); all LONG."""
    records = [
        {"symbol": s, "direction": "LONG", "cluster": c, **CLEAN, **changes}
        for s, c, _, changes in rows
    ]
    table = pd.DataFrame(records)
    return table, pd.Series([r[2] for r in rows], dtype="float64")


# Stage 1 finds A1; stage 2 adds A2 (noisy: relaxed only); stage 3 adds B1 and C1, the
# representatives of the two clusters where nobody passes; stage 4 fills with C2.
ROWS = [
    ("A1", 1, 0.9, {}),
    ("A2", 4, 0.8, NOISY),
    ("B1", 2, 0.7, FLAT),
    ("C1", 3, 0.6, FLAT),
    ("C2", 3, 0.5, FLAT),
]


@pytest.mark.parametrize(
    ("max_stage", "final", "counts", "chosen"),
    [
        (1, 1, (1,), ["A1"]),
        (2, 2, (1, 2), ["A1", "A2"]),
        (3, 3, (1, 2, 4), ["A1", "A2", "B1", "C1"]),
        (4, 4, (1, 2, 4, 5), ["A1", "A2", "B1", "C1", "C2"]),
    ],
    ids=["strict-only", "no-fallbacks", "no-fill", "htr"],
)
def test_max_stage_is_the_relaxation_policy(max_stage, final, counts, chosen):
    table, score = frame(ROWS)
    before = table.copy()
    ladder = run_ladder(table, score, top_n=1, min_pool=5, max_stage=max_stage)
    pd.testing.assert_frame_equal(table, before)
    assert ladder.final == final and ladder.counts == counts
    assert table.loc[ladder.picked, "symbol"].tolist() == chosen
    recruited = {"A1": 1, "A2": 2, "B1": 3, "C1": 3, "C2": 4}  # the stage that took each
    expected = [recruited[s] if s in chosen else 0 for s in table["symbol"]]
    assert ladder.stage.tolist() == expected


def test_the_ladder_stops_at_the_first_full_stage():
    table, score = frame(ROWS)
    ladder = run_ladder(table, score, top_n=1, min_pool=2)
    assert ladder.final == 2 and ladder.counts == (1, 2)
    assert ladder.strict == VetoThresholds() and ladder.relaxed == VetoThresholds().relaxed()


def test_reasons_follow_the_final_stage():
    table, score = frame(ROWS)
    hard = hard_veto_reasons(table, VetoThresholds())
    strict = run_ladder(table, score, top_n=1, min_pool=5, max_stage=1)
    reasons = ladder_reasons(table, strict, 1, 5, hard)
    assert reasons[0] == "stage 1: top 1 LONG of cluster 1"
    assert reasons[1] == "vetoed: high_entropy"  # stage-1 thresholds: the ceiling binds
    full = run_ladder(table, score, top_n=1, min_pool=5)
    reasons = ladder_reasons(table, full, 1, 5, hard)
    assert reasons[:2] == [
        "stage 2: top 1 LONG of cluster 1, passes the strict thresholds",
        "stage 2: top 1 LONG of cluster 4, admitted by the relaxed thresholds",
    ]
    assert reasons[4] == "stage 4: filled to the minimum pool of 5"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top_n": 0}, "ladder: top_n 0 must be >= 1"),
        ({"min_pool": -1}, "min_pool -1 >= 0"),
        ({"max_stage": 5}, r"max_stage 5 must be one of \(1, 2, 3, 4\)"),
        ({"max_stage": 0}, "max_stage 0"),
    ],
    ids=["top-n", "min-pool", "stage-5", "stage-0"],
)
def test_errors(kwargs, message):
    table, score = frame(ROWS)
    with pytest.raises(ConfigError, match=message):
        run_ladder(table, score, **({"top_n": 1, "min_pool": 5} | kwargs))
