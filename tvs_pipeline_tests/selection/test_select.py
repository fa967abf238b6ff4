import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.selection import select


@pytest.fixture
def returns():
    rng = np.random.default_rng(0)
    idx = pd.date_range("2025-01-01", periods=120, freq="D")
    drifts = {"UP1": 0.004, "UP2": 0.002, "FLAT": 0.0, "DOWN": -0.004, "YOUNG": 0.01}
    frame = pd.DataFrame(
        {k: d + 0.001 * rng.standard_normal(120) for k, d in drifts.items()}, index=idx
    )
    frame.loc[frame.index[:100], "YOUNG"] = np.nan
    return frame


@pytest.fixture
def candidates():
    return pd.DataFrame(
        {
            "symbol": ["UP1", "UP2", "FLAT", "DOWN", "DOWN", "YOUNG", "GHOST"],
            "direction": ["LONG", "LONG", "LONG", "LONG", "SHORT", "LONG", "LONG"],
            "sleeve": "s",
            "sessions_per_year": 365,
        }
    )


def test_momentum_top_n_and_reasons(returns, candidates):
    before = candidates.copy()
    out = select(returns, candidates, "momentum", top_n=1, min_obs=60)
    pd.testing.assert_frame_equal(candidates, before)
    decided = out.set_index(["symbol", "direction"])
    assert decided.loc[("UP1", "LONG"), "selected"]
    assert decided.loc[("UP2", "LONG"), "reason"] == "outside the top 1 of its group"
    assert decided.loc[("DOWN", "LONG"), "reason"] == "momentum against the direction"
    assert decided.loc[("DOWN", "SHORT"), "selected"]  # the most bearish name leads the short list
    assert decided.loc[("YOUNG", "LONG"), "reason"] == "fewer than 60 returns"
    assert decided.loc[("GHOST", "LONG"), "reason"] == "no returns"
    np.testing.assert_allclose(
        decided.loc[("UP1", "LONG"), "score"], returns["UP1"].mean() * 365, rtol=1e-12
    )
    assert (out["engine"] == "momentum").all() and len(out) == len(candidates)


def test_top_n_changes_the_selection(returns, candidates):
    one = select(returns, candidates, "momentum", top_n=1)["selected"].sum()
    two = select(returns, candidates, "momentum", top_n=2)["selected"].sum()
    assert two == one + 1


def test_baseline_passes_through(returns, candidates):
    out = select(returns, candidates, "baseline")
    assert out["selected"].tolist() == [True] * 6 + [False]


def test_errors(returns, candidates):
    with pytest.raises(ConfigError, match="unknown"):
        select(returns, candidates, "nope")
    with pytest.raises(DataError, match="missing columns \\['direction'\\]"):
        select(returns, candidates.drop(columns=["direction"]), "momentum")
    with pytest.raises(ConfigError, match="bad parameters"):
        select(returns, candidates, "momentum", top_k=3)
