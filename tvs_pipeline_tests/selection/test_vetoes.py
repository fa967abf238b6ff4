import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.vetoes import (
    HARD_VETOES,
    SOFT_VETOES,
    VetoThresholds,
    hard_veto_flags,
    soft_veto_flags,
    veto_table,
)

CLEAN = {"n_obs": 300, "entropy": 0.99, "hurst": 0.53, "efficiency_dir": 0.2,
         "momentum": 0.3, "survival": 1.0}  # fmt: skip


def features(**changes):
    row = CLEAN | changes
    return pd.DataFrame([row])


@pytest.mark.parametrize(
    ("changes", "raised"),
    [
        ({}, []),
        ({"entropy": 0.9991}, ["high_entropy"]),
        ({"entropy": 0.999}, []),  # at the ceiling is not above it
        ({"efficiency_dir": 0.0799}, ["low_efficiency"]),
        ({"efficiency_dir": 0.08}, []),
        ({"efficiency_dir": -0.5, "momentum": -0.3}, ["low_efficiency"]),  # against direction
        ({"hurst": 0.5}, ["random_walk"]),
        ({"hurst": 0.505}, []),  # the band is open
        ({"hurst": 0.495}, []),
        ({"hurst": 0.56, "momentum": -0.1, "efficiency_dir": -0.1},
         ["toxic_persistence", "low_efficiency"]),
        ({"hurst": 0.56, "momentum": 0.1}, []),  # persistent and rising: fine
        ({"survival": 0.49}, ["failed_survival"]),
        ({"survival": np.nan}, []),  # younger than every stress window
        ({"n_obs": 59}, ["missing_data"]),
        ({"n_obs": 0, "entropy": np.nan, "hurst": np.nan, "efficiency_dir": np.nan,
          "momentum": np.nan, "survival": np.nan}, ["missing_data"]),
    ],
    ids=["clean", "entropy", "entropy-at", "efficiency", "efficiency-at", "against",
         "random-walk", "band-high", "band-low", "toxic", "rising", "survival",
         "survival-nan", "short", "no-returns"],
)  # fmt: skip
def test_each_veto_at_its_threshold(changes, raised):
    table = veto_table(features(**changes), VetoThresholds())
    assert table.loc[0, "vetoes"] == raised
    assert table.loc[0, "hard_veto"] == any(code in HARD_VETOES for code in raised)
    assert table.loc[0, "soft_veto"] == any(code in SOFT_VETOES for code in raised)


def test_detail_states_value_and_threshold():
    table = veto_table(features(entropy=0.9995, n_obs=12), VetoThresholds())
    assert table.loc[0, "veto_detail"] == (
        "missing data: 12 returns < 60; high entropy: 0.9995 > 0.999"
    )
    table = veto_table(features(n_obs=0), VetoThresholds())
    assert table.loc[0, "veto_detail"] == "missing data: no returns"


def test_relaxation_multiplies_ceiling_and_floor_only():
    strict = VetoThresholds()
    relaxed = strict.relaxed()
    assert relaxed.entropy_max == 1.0  # 0.999 x 1.2, capped: the ceiling is lifted
    np.testing.assert_allclose(relaxed.efficiency_min, 0.08 * 0.8, rtol=1e-12)
    assert (relaxed.hurst_low, relaxed.hurst_high, relaxed.toxic_hurst) == (0.495, 0.505, 0.55)
    assert relaxed.survival_min == strict.survival_min and relaxed.min_obs == strict.min_obs
    half = VetoThresholds(entropy_max=0.5).relaxed()
    np.testing.assert_allclose(half.entropy_max, 0.6, rtol=1e-12)
    np.testing.assert_allclose(relaxed.half_life_max, 10.0 * 1.5, rtol=1e-12)
    np.testing.assert_allclose(relaxed.rating_ic_min, 0.10 * 0.8, rtol=1e-12)
    assert (relaxed.reversion_hurst_max, relaxed.autocorr_max) == (0.45, 0.0)
    frame = features(entropy=0.9995, efficiency_dir=0.07)
    assert soft_veto_flags(frame, strict).loc[0].tolist() == [True, True] + [False] * 5
    assert soft_veto_flags(frame, relaxed).loc[0].tolist() == [False] * 7
    assert hard_veto_flags(frame, relaxed).equals(hard_veto_flags(frame, strict))


@pytest.mark.parametrize(
    ("kwargs", "changes", "code"),
    [
        ({"entropy_max": 0.98}, {}, "high_entropy"),
        ({"efficiency_min": 0.3}, {}, "low_efficiency"),
        ({"hurst_low": 0.52, "hurst_high": 0.54}, {}, "random_walk"),
        ({"toxic_hurst": 0.5}, {"momentum": -0.1}, "toxic_persistence"),
        ({"survival_min": 1.0}, {"survival": 0.9}, "failed_survival"),
        ({"min_obs": 301}, {}, "missing_data"),
    ],
    ids=["entropy", "efficiency", "band", "toxic", "survival", "min-obs"],
)
def test_each_threshold_moves_its_veto(kwargs, changes, code):
    frame = features(**changes)
    assert code not in veto_table(frame, VetoThresholds()).loc[0, "vetoes"]
    assert code in veto_table(frame, VetoThresholds(**kwargs)).loc[0, "vetoes"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hurst_low": 0.6, "hurst_high": 0.5}, "hurst band .* is reversed"),
        ({"min_obs": 0}, "min_obs: Input should be greater than or equal to 1"),
        ({"entropy_max": 1.2}, "entropy_max: Input should be less than or equal to 1"),
        ({"entropy_hard_stop": -0.1}, "entropy_hard_stop: Input should be greater than or equal"),
        ({"survival_min": 2.0}, "survival_min: Input should be less than or equal to 1"),
    ],
    ids=["band", "min-obs", "entropy", "hard-stop", "survival"],
)
def test_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        VetoThresholds.build(kwargs)
