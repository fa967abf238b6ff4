"""Tests of the regime calibration: scores by hand, the walk-forward search, the overlay."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from tvs_pipeline.allocation.calibration import (
    RegimeCalibration,
    balanced_accuracy,
    calibrate_regime,
    forward_volatility_objective,
    regime_confusion,
    regime_overlay,
    write_regime_overlay,
)
from tvs_pipeline.allocation.regime import RegimeThresholds
from tvs_pipeline.errors import ConfigError, DataError

BASE = RegimeThresholds(base_window=60)
RUNS = [
    ("calm", 160),
    ("turbulent", 50),
    ("calm", 90),
    ("crisis", 35),
    ("calm", 80),
    ("turbulent", 45),
    ("crisis", 30),
    ("calm", 110),
    ("turbulent", 40),
    ("calm", 70),
    ("crisis", 30),
    ("calm", 60),
]


def _switching_panel(seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """800 business days of 10 listings whose regime is obvious, and that regime per day.

    A market factor of 1 % a day scaled x1 / x2 / x3.5 in calm / turbulent / crisis runs
    (with a -0.5 % daily drift in crisis); each listing loads 0.6-1.4 on it and has its own
    noise scaled the same way.
    """
    truth = np.concatenate([[name] * days for name, days in RUNS])
    dates = pd.bdate_range("2022-01-03", periods=len(truth)).as_unit("ns")
    scale = pd.Series(truth).map({"calm": 1.0, "turbulent": 2.0, "crisis": 3.5}).to_numpy()
    rng = np.random.default_rng(seed)
    factor = rng.normal(0.0, 0.01, len(dates)) * scale - 0.005 * (truth == "crisis")
    betas = rng.uniform(0.6, 1.4, 10)
    noise = rng.normal(0.0, 0.01, (len(dates), 10)) * scale[:, None]
    panel = pd.DataFrame(
        factor[:, None] * betas + noise,
        index=pd.DatetimeIndex(dates, name="market_date"),
        columns=[f"L{i}" for i in range(10)],
    )
    return panel, pd.Series(truth, index=dates, name="regime")


@pytest.fixture(scope="module")
def switching():
    return _switching_panel()


@pytest.fixture(scope="module")
def calibrated(switching) -> RegimeCalibration:
    panel, truth = switching
    return calibrate_regime(panel, truth, folds=2, n_trials=12, seed=5, base=BASE)


# ---------------------------------------------------------------- scores by hand


LABELS = ["QUIET", "NORMAL", "TURBULENT", "QUIET", "TURBULENT", "NORMAL", "CRISIS", "TURBULENT"]
TRUTH = ["calm"] * 4 + ["turbulent"] * 2 + ["crisis"] * 2


def _series(values: list[str]) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2025-01-01", periods=len(values)))


def test_confusion_counts_by_hand():
    table = regime_confusion(_series(LABELS), _series(TRUTH))
    assert list(table.index) == ["calm", "turbulent", "crisis"]
    assert list(table.columns) == ["QUIET", "NORMAL", "TURBULENT", "CRISIS"]
    assert table.to_numpy().tolist() == [[2, 1, 1, 0], [0, 1, 1, 0], [0, 0, 1, 1]]


def test_balanced_accuracy_by_hand():
    # calm 3/4 (QUIET and NORMAL both calm), turbulent 1/2, crisis 1/2
    assert balanced_accuracy(_series(LABELS), _series(TRUTH)) == pytest.approx(
        (0.75 + 0.5 + 0.5) / 3, rel=1e-12
    )
    # a class absent from the truth is not averaged in
    assert balanced_accuracy(_series(LABELS[:6]), _series(TRUTH[:6])) == pytest.approx(0.625)
    # calling every day calm scores a third, whatever the calm share
    assert balanced_accuracy(_series(["NORMAL"] * 8), _series(TRUTH)) == pytest.approx(1 / 3)


def test_the_forward_volatility_objective_by_hand():
    returns = pd.DataFrame(
        {"A": [0.0, 0.01, 0.02, 0.03, 0.04, 0.05]},
        index=pd.date_range("2025-01-01", periods=6),
    )
    objective = forward_volatility_objective(returns, horizon=2)  # rising forward volatility
    days = returns.index
    ordered = pd.DataFrame({"label": ["QUIET", "NORMAL", "TURBULENT", "CRISIS"]}, index=days[:4])
    assert objective(ordered) == pytest.approx(1.0)
    # x = [3, 0, 0, 1] against a rising y: 2 concordant, 3 discordant, one tie in x
    mixed = pd.DataFrame({"label": ["CRISIS", "QUIET", "QUIET", "NORMAL"]}, index=days[:4])
    assert objective(mixed) == pytest.approx(-1 / np.sqrt(30), rel=1e-12)
    assert objective(pd.DataFrame({"label": ["NORMAL"] * 4}, index=days[:4])) == 0.0
    # the last two days have no two forward sessions: not scored
    tail = pd.DataFrame({"label": ["QUIET", "NORMAL", "CRISIS"]}, index=days[3:])
    assert objective(tail) == 0.0


# ---------------------------------------------------------------- the walk-forward search


def test_calibration_walks_forward(calibrated, switching):
    panel, truth = switching
    folds = calibrated.folds
    assert list(folds["fold"]) == [1, 2]
    assert (folds["train_start"] == folds["train_start"].iloc[0]).all()  # expanding
    assert (folds["train_end"] < folds["test_start"]).all()
    sessions = panel.index
    for row in folds.itertuples():  # purged: 10 sessions between training and test
        gap = sessions.get_loc(row.test_start) - sessions.get_loc(row.train_end)
        assert gap == 11
    assert folds["test_start"].iloc[1] == sessions[sessions.get_loc(folds["test_end"].iloc[0]) + 1]
    assert folds["test_end"].iloc[-1] == sessions[-1]
    readings = calibrated.readings
    assert readings.index.is_monotonic_increasing and readings.index.is_unique
    assert readings.index[0] == folds["test_start"].iloc[0]
    assert set(readings["fold"]) == {1, 2}
    # the out-of-fold score is the balanced accuracy of the pooled test labels
    assert calibrated.score == pytest.approx(balanced_accuracy(readings["label"], truth))
    # a blind labelling scores 1/3; telling turbulent (x2) from crisis (x3.5) runs of 30-50
    # days a few sessions late is where the rest goes (12 trials: 0.65, 60 trials: 0.66)
    assert calibrated.score > 0.6


def test_calibration_is_deterministic_under_a_seed(calibrated, switching):
    panel, truth = switching
    again = calibrate_regime(panel, truth, folds=2, n_trials=12, seed=5, base=BASE)
    assert again.thresholds == calibrated.thresholds
    assert again.score == calibrated.score
    pd.testing.assert_frame_equal(again.folds, calibrated.folds)
    pd.testing.assert_frame_equal(again.readings, calibrated.readings)


def test_the_truth_leaves_the_quiet_threshold_and_the_fixed_values_alone(calibrated):
    t = calibrated.thresholds
    assert t.vol_ratio_quiet == BASE.vol_ratio_quiet  # the truth has no quiet class
    for name in ("base_window", "top_n", "max_correlation", "min_coverage", "tail_quantile"):
        assert getattr(t, name) == getattr(BASE, name)
    assert t.vol_ratio_turbulent >= t.vol_ratio_quiet


def test_an_objective_calibrates_without_truth(switching):
    panel, _ = switching
    objective = forward_volatility_objective(panel)
    result = calibrate_regime(panel, objective, folds=1, n_trials=10, seed=2, base=BASE)
    assert result.thresholds.vol_ratio_quiet != BASE.vol_ratio_quiet  # searched here
    assert result.thresholds.vol_ratio_quiet <= result.thresholds.vol_ratio_turbulent
    assert result.score == pytest.approx(objective(result.readings))
    assert result.score > 0.2


def test_inputs_are_not_modified(switching):
    panel, truth = switching
    panel_before, truth_before = panel.copy(), truth.copy()
    calibrate_regime(panel, truth, folds=1, n_trials=2, seed=0, base=BASE)
    pd.testing.assert_frame_equal(panel, panel_before)
    pd.testing.assert_series_equal(truth, truth_before)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"folds": 0}, "folds 0: expected at least 1"),
        ({"n_trials": 0}, "n_trials 0: expected at least 1"),
        ({"seed": -1}, "seed -1: expected at least 0"),
        ({"purge": -1}, "purge -1: expected at least 0"),
    ],
    ids=["folds", "trials", "seed", "purge"],
)
def test_bad_arguments_are_config_errors(switching, kwargs, match):
    panel, truth = switching
    with pytest.raises(ConfigError, match=match):
        calibrate_regime(panel, truth, **({"base": BASE} | kwargs))


def test_bad_truth_and_data_are_refused_in_one_line(switching):
    panel, truth = switching
    with pytest.raises(DataError, match="no true regime on 2022-07-14") as info:
        calibrate_regime(panel, truth.iloc[200:], folds=1, n_trials=1, base=BASE)
    assert "\n" not in str(info.value)
    odd = truth.where(truth != "crisis", "boom")
    with pytest.raises(DataError, match="unknown class 'boom'"):
        calibrate_regime(panel, odd, folds=1, n_trials=1, base=BASE)
    with pytest.raises(ConfigError, match="is a list, expected a Series of regimes or a callable"):
        calibrate_regime(panel, list(truth), folds=1, n_trials=1, base=BASE)
    with pytest.raises(DataError, match=r"150 sessions, expected at least 179 .* widest windows"):
        calibrate_regime(
            panel.iloc[:150], truth, folds=1, n_trials=1, base=BASE.updated(base_window=100)
        )
    with pytest.raises(DataError, match="12 scored sessions, expected at least 14 for 6 folds"):
        calibrate_regime(panel.iloc[:150], truth, folds=6, n_trials=1, base=BASE)
    with pytest.raises(DataError, match="unknown label 'CALM'"):
        balanced_accuracy(_series(["CALM"]), _series(["calm"]))


def test_a_missing_optuna_names_the_extra(switching, monkeypatch):
    panel, truth = switching
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'tvs_pipeline\[research\]'"):
        calibrate_regime(panel, truth, folds=1, n_trials=1, base=BASE)


# ---------------------------------------------------------------- the overlay


def test_the_overlay_states_only_what_changes():
    assert regime_overlay(RegimeThresholds()) == {"allocation": {"regime": {}}}
    changed = RegimeThresholds().updated(short_window=15, turbulence_crisis=5.5)
    assert regime_overlay(changed) == {
        "allocation": {"regime": {"short_window": 15, "turbulence_crisis": 5.5}}
    }


def test_the_overlay_round_trips_and_keeps_the_files_other_keys(tmp_path, calibrated):
    path = tmp_path / "profiles" / "calibrated.yaml"
    path.parent.mkdir()
    path.write_text(
        "run:\n  lookback: 500\nallocation:\n  engine: custom\n  regime:\n    short_window: 99\n",
        encoding="utf-8",
    )
    assert write_regime_overlay(calibrated.thresholds, path) == path
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert document["run"] == {"lookback": 500}
    assert document["allocation"]["engine"] == "custom"
    assert RegimeThresholds.build(document["allocation"]["regime"]) == calibrated.thresholds
    fresh = write_regime_overlay(calibrated.thresholds, tmp_path / "new" / "overlay.yaml")
    assert yaml.safe_load(fresh.read_text(encoding="utf-8")) == regime_overlay(
        calibrated.thresholds
    )


def test_the_overlay_refuses_a_file_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "overlay.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"overlay\.yaml: expected a YAML mapping, found list"):
        write_regime_overlay(RegimeThresholds(), path)
