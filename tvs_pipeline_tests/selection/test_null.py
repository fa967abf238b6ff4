from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.selection.null import WINDOWS, null_metrics, null_table, veto_rates
from tvs_pipeline.selection.vetoes import VetoThresholds

METHODOLOGY = Path(__file__).resolve().parents[2] / "docs" / "methodology.md"


@pytest.fixture(scope="module")
def table():
    return null_table()


def test_the_simulation_is_seeded():
    pd.testing.assert_frame_equal(null_metrics(100, 50), null_metrics(100, 50))
    assert not null_metrics(100, 50).equals(null_metrics(100, 50, seed=1))


@pytest.mark.parametrize("n_obs", list(WINDOWS.values()))
def test_default_thresholds_bind_on_noise_at_the_configured_windows(n_obs):
    rates = veto_rates(null_metrics(n_obs, 2000), VetoThresholds())
    assert 0.8 < rates["low_efficiency"] < 0.97  # the floor does the work
    assert 0.1 < rates["high_entropy"] < 0.5  # the ceiling binds, not only in the far tail
    assert 0.05 < rates["random_walk"] < 0.2  # the band binds, narrowly
    assert 0.01 < rates["toxic_persistence"] < 0.1
    assert rates["any"] > 0.9


def test_white_noise_reads_as_documented(table):
    hurst = table.loc[table["metric"] == "hurst", "mean"]
    assert np.allclose(hurst, 0.5, atol=0.005)  # corrected R/S: 0.5, not 0.58
    entropy = table.loc[table["metric"] == "entropy"]
    assert (entropy["p95"] < 1.0).all() and (entropy["p95"] > 0.999).all()


def test_methodology_states_the_simulated_nulls(table):
    # Pinned: the section 8.2 table of docs/methodology.md is this simulation (seed 20260630).
    text = METHODOLOGY.read_text()
    for row in table.loc[table["metric"].isin(["entropy", "hurst", "efficiency_dir"])].itertuples():
        numbers = " | ".join(f"{v:.4f}" for v in (row.mean, row.p05, row.p50, row.p95))
        numbers = numbers.replace("-", "−")
        assert f"| {row.metric} | {numbers} |" in text, (row.window, row.metric)
        assert f"{row.vetoed:.1%}".replace("%", " %") in text
    for share in table.loc[table["metric"] == "any of them", "vetoed"]:
        assert f"**{share:.1%}**".replace("%", " %") in text
