import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.selection.features import (
    FEATURE_COLUMNS,
    FeatureParams,
    build_features,
    efficiency_ratio,
    hurst_exponent,
    permutation_entropy,
)

DIRECTIONAL = ["momentum", "efficiency_dir", "skew", "tail_gain", "antifragility", "fragility"]
INVARIANT = ["stability", "entropy", "hurst", "efficiency", "kurtosis", "survival", "n_obs"]


def test_public_metric_functions_import_from_features():
    x = np.random.default_rng(0).standard_normal(300)
    assert 0.99 < permutation_entropy(x, order=3, delay=1) <= 1.0
    assert 0.35 < hurst_exponent(x) < 0.65
    assert 0.0 <= efficiency_ratio(x) < 0.2


def test_frame_shape_and_inputs_untouched(panel, candidates):
    before_panel, before_candidates = panel.copy(), candidates.copy()
    frame = build_features(panel, candidates.set_index(pd.Index(range(100, 120))))
    pd.testing.assert_frame_equal(panel, before_panel)
    pd.testing.assert_frame_equal(candidates, before_candidates)
    assert list(frame.columns) == [
        "symbol",
        "identity",
        "logic",
        "direction",
        "sign",
        *FEATURE_COLUMNS,
    ]
    assert list(frame.index) == list(range(100, 120))


def test_a_short_is_scored_on_the_negated_returns(panel):
    long_of_negated = build_features(
        -panel[["DN0"]], pd.DataFrame({"symbol": ["DN0"], "direction": ["LONG"]})
    )
    short = build_features(
        panel[["DN0"]], pd.DataFrame({"symbol": ["DN0"], "direction": ["short"]})
    )
    for column in DIRECTIONAL + INVARIANT:
        np.testing.assert_allclose(
            short[column], long_of_negated[column], rtol=1e-12, err_msg=column
        )
    assert short.loc[0, "direction"] == "SHORT" and short.loc[0, "momentum"] > 0


def test_features_by_hand(panel):
    x = panel["UP0"].to_numpy()
    frame = build_features(panel, pd.DataFrame({"symbol": ["UP0"], "direction": ["LONG"]}))
    row = frame.iloc[0]
    std = x.std(ddof=1)
    worst = np.sort(x)[:20].mean()  # ceil(5 % of 400) = 20 sessions
    best = np.sort(x)[-20:].mean()
    expected = {
        "n_obs": 400,
        "periods_per_year": 365,  # trades on weekends
        "momentum": x.mean() * 365,
        "stability": 1 / (std * np.sqrt(365)),
        "efficiency": abs(x.sum()) / np.abs(x).sum(),
        "efficiency_dir": x.sum() / np.abs(x).sum(),
        "skew": stats.skew(x, bias=True),
        "kurtosis": stats.kurtosis(x, fisher=True, bias=True),
        "tail_gain": (best + worst) / std,
        "fragility": -worst / std,
        "antifragility": (stats.skew(x, bias=True) + (best + worst) / std) * 1.0,
        "entropy": permutation_entropy(x),
        "hurst": hurst_exponent(x),
    }
    for column, value in expected.items():
        np.testing.assert_allclose(row[column], value, rtol=1e-10, err_msg=column)


def test_own_sessions_calendar_and_history_significance(panel):
    candidates = pd.DataFrame({"symbol": ["EQ", "YOUNG", "UP0"], "direction": "LONG"})
    frame = build_features(panel, candidates).set_index("symbol")
    eq = panel["EQ"].dropna().to_numpy()
    assert frame.loc["EQ", "periods_per_year"] == 252  # no weekend returns
    assert frame.loc["EQ", "n_obs"] == len(eq)
    np.testing.assert_allclose(frame.loc["EQ", "momentum"], eq.mean() * 252, rtol=1e-12)
    np.testing.assert_allclose(frame.loc["EQ", "entropy"], permutation_entropy(eq), rtol=1e-12)
    young = panel["YOUNG"].dropna().to_numpy()
    significance = len(young) / 365
    af = stats.skew(young) + (np.sort(young)[-5:].mean() + np.sort(young)[:5].mean()) / young.std(
        ddof=1
    )
    np.testing.assert_allclose(frame.loc["YOUNG", "antifragility"], af * significance, rtol=1e-10)
    assert np.isnan(frame.loc["YOUNG", "survival"])  # listed after the stress windows
    given = build_features(panel, candidates.assign(sessions_per_year=[252, 252, 252]))
    np.testing.assert_allclose(given.loc[2, "momentum"] * 365 / 252, frame.loc["UP0", "momentum"])


def test_missing_symbol_and_optional_columns(panel):
    candidates = pd.DataFrame(
        {"symbol": ["GHOST", "UP0"], "direction": ["LONG", "LONG"], "adx": [20.0, "n/a"]}
    )
    frame = build_features(panel, candidates)
    ghost = frame.iloc[0]
    assert ghost["n_obs"] == 0
    assert ghost[list(FEATURE_COLUMNS[2:])].drop("adx").isna().all()
    assert frame.loc[0, "adx"] == 20.0 and np.isnan(frame.loc[1, "adx"])
    assert frame["liquidity"].isna().all()  # no value_traded column: unknown, neutral later


def test_nans_inside_the_window_are_handled(panel):
    holed = panel.copy()
    holed.iloc[[5, 6, 300], holed.columns.get_loc("UP1")] = np.nan
    candidates = pd.DataFrame({"symbol": ["UP1"], "direction": ["LONG"]})
    frame = build_features(holed, candidates)
    assert (
        frame[list(FEATURE_COLUMNS[1:])].drop(columns=["adx", "liquidity"]).notna().all(axis=None)
    )
    compressed = pd.DataFrame({"UP1": holed["UP1"].dropna().to_numpy()}, index=holed.index[:397])
    pd.testing.assert_series_equal(
        frame.iloc[0].drop(["survival", "periods_per_year"]),
        build_features(compressed, candidates).iloc[0].drop(["survival", "periods_per_year"]),
    )


@pytest.mark.parametrize(
    ("params", "column"),
    [
        (FeatureParams(entropy_order=4), "entropy"),
        (FeatureParams(entropy_delay=2), "entropy"),
        (FeatureParams(efficiency_window=100), "efficiency"),
        (FeatureParams(hurst_min_lag=8), "hurst"),
        (FeatureParams(hurst_max_lag=32), "hurst"),
        (FeatureParams(stress_windows=1), "survival"),
        (FeatureParams(stress_length=5), "survival"),
    ],
    ids=[
        "order",
        "delay",
        "efficiency-window",
        "min-lag",
        "max-lag",
        "stress-count",
        "stress-length",
    ],
)
def test_each_parameter_changes_its_feature(panel, candidates, params, column):
    default = build_features(panel, candidates)[column]
    changed = build_features(panel, candidates, params)[column]
    assert not default.equals(changed)


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        (pd.DataFrame({"symbol": ["A"]}), r"missing columns \['direction'\]"),
        (pd.DataFrame({"symbol": ["A"], "direction": ["UP"]}), "direction must be LONG or SHORT"),
        (pd.DataFrame({"symbol": [None], "direction": ["LONG"]}), "a symbol is missing"),
    ],
    ids=["no-direction", "bad-direction", "no-symbol"],
)
def test_bad_candidates(panel, candidates, message):
    with pytest.raises(DataError, match=message):
        build_features(panel, candidates)


def test_bad_parameters():
    with pytest.raises(ConfigError, match="entropy_order: Input should be less than or equal to 7"):
        FeatureParams.build({"entropy_order": 9})
    with pytest.raises(ConfigError, match="max_lag 8 must be at least 2 x min_lag 8"):
        FeatureParams.build({"hurst_min_lag": 8, "hurst_max_lag": 8})
