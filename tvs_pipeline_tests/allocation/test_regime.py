"""Tests of the regime detector: features by hand, labels, no look-ahead, errors, the demo."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.allocation.calibration import balanced_accuracy, regime_confusion
from tvs_pipeline.allocation.regime import (
    COVERAGE_ROWS,
    REGIME_COLUMNS,
    Regime,
    RegimeReading,
    RegimeThresholds,
    classify_regimes,
    detect_regime,
    regime_features,
    regime_series,
    session_state,
    universe_sessions,
)
from tvs_pipeline.errors import ConfigError, DataError, LookAheadError

CRASH_START = pd.Timestamp("2025-03-03")
SMALL = RegimeThresholds(
    base_window=120,
    short_window=10,
    turbulence_span=5,
    top_n=8,
    max_correlation=0.95,
    min_coverage=0.6,
    reference_quantile=0.5,
    tail_quantile=0.05,
    vol_ratio_quiet=0.9,
    vol_ratio_turbulent=1.3,
    vol_ratio_crisis=2.0,
    turbulence_turbulent=2.0,
    turbulence_crisis=4.0,
    tail_share_turbulent=0.15,
    tail_share_crisis=0.3,
    quorum=2,
)


def _panel(seed: int = 0, crash_days: int = 40, start: str = "2024-01-01") -> pd.DataFrame:
    """Calendar days from ``start`` with a calm stretch, then ``crash_days`` of a crash.

    Eight equities trade on weekdays (NaN at weekends), four crypto listings every day, and
    ``C0b`` is a second venue of ``C0`` (the same path plus 1e-5 noise). Calm: a market
    factor of 1 % a day and idiosyncratic noise, no drift. Crash (from CRASH_START): every
    return x4 (the factor and the noise, as the demo market scales its factor paths) and a
    -1 % daily drift.
    """
    dates = pd.date_range(start, CRASH_START + pd.Timedelta(days=crash_days - 1))
    rng = np.random.default_rng(seed)
    crash = dates >= CRASH_START
    scale = np.where(crash, 4.0, 1.0)[:, None]
    factor = rng.normal(0.0, 0.01, len(dates))
    columns = {}
    for i in range(8):
        columns[f"E{i}"] = 0.8 * factor + rng.normal(0.0, 0.008, len(dates))
    for i in range(4):
        columns[f"C{i}"] = 1.2 * factor + rng.normal(0.0, 0.015, len(dates))
    columns["C0b"] = columns["C0"] + rng.normal(0.0, 1e-5, len(dates))
    values = pd.DataFrame(columns).to_numpy() * scale + np.where(crash, -0.01, 0.0)[:, None]
    panel = pd.DataFrame(
        values, index=pd.DatetimeIndex(dates, name="market_date"), columns=list(columns)
    )
    weekend = dates.day_of_week >= 5
    panel.loc[weekend, [f"E{i}" for i in range(8)]] = np.nan
    return panel


def _hand_ledoit_wolf(x: np.ndarray) -> np.ndarray:
    """Ledoit and Wolf (2004), Lemma 3.2-3.4 written from the paper, with loops."""
    n, p = x.shape
    centred = x - x.mean(axis=0)
    sample = centred.T @ centred / n
    m = np.trace(sample) / p
    d2 = np.sum((sample - m * np.eye(p)) ** 2) / p
    b2_bar = sum(np.sum((np.outer(row, row) - sample) ** 2) / p for row in centred) / n**2
    b2 = min(b2_bar, d2)
    return (b2 / d2) * m * np.eye(p) + (1.0 - b2 / d2) * sample


def _hand_features(panel: pd.DataFrame, day: pd.Timestamp, t: RegimeThresholds) -> dict:
    """Every feature of ``day`` by hand: weekday rows, plain numpy, no rolling machinery."""
    sessions = panel.loc[panel.index.day_of_week < 5]  # the full rows of _panel
    x = sessions.to_numpy()
    p = sessions.index.get_loc(day)
    m = x.mean(axis=1)
    s, base = t.short_window, t.base_window
    sigma = {u: np.std(m[u - s + 1 : u + 1], ddof=1) for u in range(p - s - base + 1, p + 1)}
    q = t.reference_quantile
    typical = np.quantile([sigma[u] for u in range(p - s - base + 1, p - s + 1)], q)
    threshold = NormalDist().inv_cdf(t.tail_quantile) * typical
    daily = []
    for u in range(p - t.turbulence_span + 1, p + 1):
        window = x[u - base : u]
        keep = list(range(x.shape[1]))
        cov = _hand_ledoit_wolf(window[:, keep])
        precision = np.linalg.inv(cov)
        mean = window[:, keep].mean(axis=0)
        dist = [(r - mean) @ precision @ (r - mean) for r in window[:, keep]]
        today = (x[u, keep] - mean) @ precision @ (x[u, keep] - mean)
        daily.append(today / np.quantile(dist, q))
    return {
        "vol_ratio": sigma[p] / typical,
        "turbulence": float(np.mean(daily)),
        "tail_share": float(np.mean(m[p - s + 1 : p + 1] < threshold)),
    }


# ---------------------------------------------------------------- features by hand


@pytest.mark.parametrize("reference", [0.5, 0.25])
@pytest.mark.parametrize("day", ["2024-12-02", "2025-03-12", "2025-04-11"], ids=str)
def test_features_match_a_hand_computation(day, reference):
    panel = _panel()
    when = pd.Timestamp(day)
    # every listing, the twin too
    t = SMALL.updated(top_n=13, max_correlation=1.0, reference_quantile=reference)
    features = regime_features(panel.loc[:when], when.date(), when.date(), t)
    expected = _hand_features(panel.loc[:when], when, t)
    for name, value in expected.items():
        np.testing.assert_allclose(features[name].iloc[0], value, rtol=1e-10, err_msg=name)
    assert features["listings"].iloc[0] == 13


def test_turbulence_is_one_on_the_baselines_median_day_and_large_in_a_crash():
    panel = _panel()
    state = session_state(panel, date(2025, 1, 6), date(2025, 4, 11), SMALL)
    calm = state.loc["2025-01-06":"2025-02-28", "turbulence_day"]
    crash = state.loc["2025-03-10":, "turbulence_day"]
    assert 0.5 < calm.median() < 2.0
    assert crash.median() > 5 * calm.median()
    # computed from turbulence_span - 1 sessions before the start, not earlier
    assert state["turbulence_day"].loc["2024-12-31":].notna().all()
    assert state["turbulence_day"].loc[:"2024-12-30"].isna().all()


def test_the_cross_section_skips_a_twin_and_stops_at_top_n():
    panel = _panel()
    day = pd.Timestamp("2025-01-06")
    wide = regime_features(panel.loc[:day], day.date(), day.date(), SMALL.updated(top_n=20))
    assert wide["listings"].iloc[0] == 12  # 13 listings, the twin skipped
    twins = regime_features(
        panel.loc[:day], day.date(), day.date(), SMALL.updated(top_n=20, max_correlation=1.0)
    )
    assert twins["listings"].iloc[0] == 13
    few = regime_features(panel.loc[:day], day.date(), day.date(), SMALL.updated(top_n=3))
    assert few["listings"].iloc[0] == 3


def test_sessions_are_the_full_rows_of_a_mixed_calendar():
    panel = _panel()
    sessions = universe_sessions(panel, 0.6)
    assert (sessions == (panel.index.day_of_week < 5)).all()
    assert universe_sessions(panel, 0.3).all()  # crypto alone holds 5 of 13 returns


def test_a_universe_that_shrinks_is_back_to_full_coverage_within_the_coverage_rows():
    panel = _panel().loc[:"2024-06-30"].copy()
    panel.loc["2024-05-01":, ["E0", "E1", "E2", "E3", "E4", "E5"]] = np.nan
    sessions = universe_sessions(panel, 0.6)
    weekdays = panel.index.day_of_week < 5
    after = panel.index >= pd.Timestamp("2024-05-01") + pd.Timedelta(days=COVERAGE_ROWS)
    assert sessions[after & weekdays].all()
    assert not sessions["2024-05-01":"2024-05-03"].any()


# ---------------------------------------------------------------- labels


BASE_LABELS = RegimeThresholds(
    quorum=2,
    vol_ratio_quiet=0.9,
    vol_ratio_turbulent=1.3,
    vol_ratio_crisis=2.0,
    turbulence_turbulent=2.0,
    turbulence_crisis=4.0,
    tail_share_turbulent=0.15,
    tail_share_crisis=0.3,
)


def _features(vol_ratio: float, turbulence: float, tail_share: float) -> pd.DataFrame:
    row = {"vol_ratio": vol_ratio, "turbulence": turbulence, "tail_share": tail_share}
    return pd.DataFrame([row | {"listings": 30}], index=pd.DatetimeIndex(["2025-01-02"]))


@pytest.mark.parametrize(
    ("vol_ratio", "turbulence", "tail_share", "label"),
    [
        (0.5, 0.5, 0.0, "QUIET"),
        (1.0, 0.5, 0.0, "NORMAL"),
        (5.0, 0.5, 0.0, "NORMAL"),  # one feature alone moves nothing
        (1.5, 2.5, 0.0, "TURBULENT"),
        (5.0, 9.0, 0.0, "CRISIS"),
        (5.0, 2.5, 0.1, "TURBULENT"),  # votes 2, 1, 0: the median is 1
        (0.5, 9.0, 0.5, "CRISIS"),
    ],
    ids=["quiet", "normal", "one-feature", "turbulent", "two-crisis", "median", "vol-calm"],
)
def test_the_label_is_the_median_vote(vol_ratio, turbulence, tail_share, label):
    # quorum 2: the median vote; 0.9 | 1.3 / 2.0 | 2.0 / 4.0 | 0.15 / 0.30
    labels = classify_regimes(_features(vol_ratio, turbulence, tail_share), BASE_LABELS)
    assert labels.iloc[0] == label


@pytest.mark.parametrize(
    ("field", "value", "features", "before", "after"),
    [
        ("vol_ratio_quiet", 0.6, (0.7, 1.0, 0.0), "QUIET", "NORMAL"),
        ("vol_ratio_turbulent", 1.7, (1.5, 2.5, 0.0), "TURBULENT", "NORMAL"),
        ("vol_ratio_crisis", 3.0, (2.5, 5.0, 0.2), "CRISIS", "TURBULENT"),
        ("turbulence_turbulent", 3.0, (1.5, 2.5, 0.0), "TURBULENT", "NORMAL"),
        ("turbulence_crisis", 6.0, (2.5, 5.0, 0.2), "CRISIS", "TURBULENT"),
        ("tail_share_turbulent", 0.25, (1.0, 2.5, 0.2), "TURBULENT", "NORMAL"),
        ("tail_share_crisis", 0.5, (1.5, 5.0, 0.4), "CRISIS", "TURBULENT"),
        ("quorum", 1, (1.0, 5.0, 0.0), "NORMAL", "CRISIS"),
        ("quorum", 3, (2.5, 5.0, 0.2), "CRISIS", "TURBULENT"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_threshold_moves_the_label(field, value, features, before, after):
    frame = _features(*features)
    assert classify_regimes(frame, BASE_LABELS).iloc[0] == before
    assert classify_regimes(frame, BASE_LABELS.updated(**{field: value})).iloc[0] == after


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base_window", 100),
        ("short_window", 15),
        ("turbulence_span", 3),
        ("top_n", 4),
        ("max_correlation", 1.0),
        ("min_coverage", 0.3),
        ("reference_quantile", 0.25),
        ("tail_quantile", 0.2),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_window_moves_the_features(field, value):
    panel = _panel()
    before = regime_features(panel, date(2025, 3, 3), date(2025, 4, 11), SMALL)
    after = regime_features(
        panel, date(2025, 3, 3), date(2025, 4, 11), SMALL.updated(**{field: value})
    )
    assert not before.equals(after)


def test_a_calm_stretch_reads_calm_and_a_crash_reads_crisis():
    panel = _panel()
    series = regime_series(panel, date(2024, 9, 2), date(2025, 4, 11), SMALL)
    assert tuple(series.columns) == REGIME_COLUMNS
    assert series.index.name == "date"
    assert (series.index.day_of_week < 5).all()  # sessions only
    calm = series.loc[: CRASH_START - pd.Timedelta(days=1), "label"]
    assert calm.isin(["QUIET", "NORMAL"]).mean() > 0.9
    late_crash = series.loc[CRASH_START + pd.Timedelta(days=7) :, "label"]
    assert late_crash.isin(["TURBULENT", "CRISIS"]).all()
    assert (late_crash == "CRISIS").mean() > 0.9
    first_alarm = series.loc[CRASH_START:].query("label != 'QUIET' and label != 'NORMAL'")
    assert first_alarm.index[0] - CRASH_START <= pd.Timedelta(days=7)


def test_defaults_read_calm_then_crisis_on_a_long_panel():
    panel = _panel(seed=1, start="2023-06-01")
    series = regime_series(panel, date(2024, 9, 2), date(2025, 4, 11))
    assert series.loc[:"2025-02-28", "label"].isin(["QUIET", "NORMAL"]).mean() > 0.95
    assert (series.loc["2025-03-10":, "label"] == "CRISIS").all()


def test_defaults_rarely_alarm_on_a_stationary_market():
    # The null the prior system never checked: one Student-t(4) factor, 40 listings, no
    # regime. Its turbulent reading must stay rare (4 % over four seeds when calibrated).
    rng = np.random.default_rng(20261203)
    dates = pd.bdate_range("2020-01-01", periods=1300)
    factor = rng.standard_t(4, len(dates)) / np.sqrt(2) * 0.01
    noise = rng.standard_t(4, (len(dates), 40)) / np.sqrt(2) * 0.015
    panel = pd.DataFrame(factor[:, None] * rng.uniform(0.5, 1.5, 40) + noise, index=dates)
    series = regime_series(panel, dates[300].date(), dates[-1].date())
    shares = series["label"].value_counts(normalize=True)
    assert shares.get("CRISIS", 0.0) < 0.01
    assert shares.get("TURBULENT", 0.0) < 0.1
    assert 0.03 < shares.get("QUIET", 0.0) < 0.3


# ---------------------------------------------------------------- time


def test_a_reading_ignores_every_return_after_its_day():
    panel = _panel()
    day = pd.Timestamp("2025-03-10")
    noise = np.random.default_rng(99).normal(0.0, 0.2, panel.shape)
    shocked = panel.copy()
    later = panel.index > day
    shocked.loc[later] = np.where(panel.loc[later].isna(), np.nan, noise[later])
    start, end = date(2025, 2, 3), date(2025, 4, 11)
    original = regime_series(panel, start, end, SMALL)
    perturbed = regime_series(shocked, start, end, SMALL)
    pd.testing.assert_frame_equal(original.loc[:day], perturbed.loc[:day])
    assert not original.loc[day + pd.Timedelta(days=1) :].equals(
        perturbed.loc[day + pd.Timedelta(days=1) :]
    )  # the shock reaches later days: the test has teeth
    reading = detect_regime(shocked.loc[:day], day.date(), SMALL)
    assert reading.label == original.loc[day, "label"]
    assert reading.vol_ratio == original.loc[day, "vol_ratio"]
    assert reading.turbulence == original.loc[day, "turbulence"]


def test_detect_regime_reads_the_last_session_of_a_weekend():
    panel = _panel()
    saturday = date(2025, 3, 15)
    reading = detect_regime(panel.loc[: pd.Timestamp(saturday)], saturday, SMALL)
    friday = regime_series(panel.loc[:"2025-03-14"], date(2025, 3, 14), date(2025, 3, 14), SMALL)
    assert reading == RegimeReading(
        as_of=saturday,
        session=date(2025, 3, 14),
        label=Regime(friday["label"].iloc[0]),
        vol_ratio=float(friday["vol_ratio"].iloc[0]),
        turbulence=float(friday["turbulence"].iloc[0]),
        tail_share=float(friday["tail_share"].iloc[0]),
        listings=8,
    )


def test_importing_the_detector_loads_no_heavy_library():
    script = (
        "import sys\n"
        "import tvs_pipeline.allocation.regime, tvs_pipeline.allocation.calibration\n"
        "print(','.join(m for m in ('sklearn', 'scipy', 'optuna') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_inputs_are_not_modified():
    panel = _panel()
    before = panel.copy()
    regime_series(panel, date(2025, 3, 3), date(2025, 4, 11), SMALL)
    detect_regime(panel, panel.index[-1].date(), SMALL)
    pd.testing.assert_frame_equal(panel, before)


# ---------------------------------------------------------------- errors


def _tz(panel):
    return panel.tz_localize("UTC")


def _shuffled(panel):
    return panel.iloc[::-1]


def _doubled(panel):
    return pd.concat([panel.iloc[:1], panel])


def _infinite(panel):
    out = panel.copy()
    out.iloc[5, 2] = np.inf
    return out


@pytest.mark.parametrize(
    ("broken", "match"),
    [
        (lambda p: p.to_numpy(), "returns is a ndarray, expected a DataFrame"),
        (lambda p: p.reset_index(drop=True), "returns index is RangeIndex, expected naive dates"),
        (_tz, r"tz-aware \(UTC\), expected naive dates"),
        (_shuffled, "not increasing and unique"),
        (_doubled, "not increasing and unique"),
        (_infinite, "returns of E2 hold an infinite value"),
        (
            lambda p: p[["C1"]],
            r"1 listing\(s\) observed on all 121 sessions of the turbulence window",
        ),
    ],
    ids=["array", "range-index", "tz", "unsorted", "duplicate", "inf", "one-listing"],
)
def test_a_malformed_panel_is_refused_in_one_line(broken, match):
    panel = _panel().loc[:"2025-03-14"]
    with pytest.raises(DataError, match=match) as info:
        regime_series(broken(panel), date(2025, 3, 3), date(2025, 3, 14), SMALL)
    assert "\n" not in str(info.value)


def test_range_errors():
    panel = _panel().loc[:"2025-03-14"]
    with pytest.raises(DataError, match="start 2025-03-14 is after end 2025-03-03"):
        regime_series(panel.loc[:"2025-03-03"], date(2025, 3, 14), date(2025, 3, 3), SMALL)
    with pytest.raises(DataError, match=r"2025-03-08..2025-03-09: no session in the range"):
        regime_series(panel.loc[:"2025-03-09"], date(2025, 3, 8), date(2025, 3, 9), SMALL)
    with pytest.raises(DataError, match=r"2024-03-01: needs 139 sessions of history .* found 45"):
        regime_series(panel.loc[:"2024-03-01"], date(2024, 3, 1), date(2024, 3, 1), SMALL)
    with pytest.raises(LookAheadError, match="returns row 2025-03-14 is after 2025-03-07"):
        detect_regime(panel, date(2025, 3, 7), SMALL)
    with pytest.raises(LookAheadError, match="returns row 2025-03-14 is after 2025-03-10"):
        regime_series(panel, date(2025, 3, 3), date(2025, 3, 10), SMALL)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"short_windw": 10}, "short_windw: unknown key \\(did you mean 'short_window'\\?\\)"),
        ({"short_window": "20"}, "short_window: Input should be a valid integer"),
        ({"base_window": 20}, "base_window: Input should be greater than or equal to 60"),
        (
            {"vol_ratio_turbulent": 1.5, "vol_ratio_crisis": 1.2},
            "vol_ratio_turbulent 1.5 is above vol_ratio_crisis 1.2",
        ),
        ({"tail_share_crisis": 1.5}, "tail_share_crisis: Input should be less than or equal to 1"),
    ],
    ids=["unknown", "strict", "bound", "order", "share"],
)
def test_bad_thresholds_are_one_line_config_errors(values, match):
    with pytest.raises(ConfigError, match=match) as info:
        RegimeThresholds.build(values)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- the demo market


DEMO_START, DEMO_END = date(2025, 2, 16), date(2026, 6, 30)  # the demo backfill's 500 days


@pytest.fixture(scope="module")
def demo():
    """DemoMarket(seed=7, scale=300): OK-like listings made wide, and the true regime chain.

    The planted spike and frozen hosts are dropped, as the health stage does (TOXIC); the
    window starts 504 days before DEMO_START so the first day has its 289 sessions.
    """
    from tvs_pipeline.funnel.normalization import returns_panel, wide_returns
    from tvs_pipeline.market.demo import DemoMarket

    market = DemoMarket(seed=7, scale=300)
    defects = market.defects()
    toxic = set(defects.loc[defects["defect"].isin(["spike", "frozen"]), "symbol"])
    symbols = sorted(set(market.listings["symbol"]) - toxic)
    bars = market.bars(symbols, date(2023, 10, 1), DEMO_END)
    panel = wide_returns(returns_panel(bars.rename(columns={"date": "market_date"})))
    return panel, market.regimes()


def test_demo_confusion_matrix(demo):
    panel, truth = demo
    series = regime_series(panel, DEMO_START, DEMO_END)
    table = regime_confusion(series["label"], truth)
    # Pinned from this run (defaults as shipped; DemoMarket(seed=7, scale=300), sessions of
    # 2025-02-16..2026-06-30). Rows: truth; columns: QUIET, NORMAL, TURBULENT, CRISIS.
    expected = PINNED_DEMO
    assert table.to_numpy().tolist() == expected
    calm, _, crisis = table.to_numpy()
    assert (calm[0] + calm[1]) / calm.sum() > 0.8  # calm days mostly QUIET or NORMAL
    assert (crisis[2] + crisis[3]) / crisis.sum() > 0.8  # crisis days mostly flagged
    assert balanced_accuracy(series["label"], truth) > 0.6


# Re-pinned when issue 15 added the planted mean-reverting and rated listings to the market
# (they join the equal-weight index); without them the run gives the former pin exactly,
# [[133, 54, 8, 0], [3, 32, 71, 6], [0, 0, 24, 12]], balanced accuracy 0.642 both ways.
# Re-pinned when issue 17 added 10 FX pairs and 10 continuous futures (they join the index:
# calm: one QUIET day reads NORMAL; turbulent: QUIET 4 -> 3, NORMAL 32 -> 34, TURBULENT
# 71 -> 69, CRISIS 5 -> 6; balanced accuracy 0.642 -> 0.636); without them (the same market,
# its FX and futures left out of the panel) the run gives the issue 15 pin exactly,
# [[126, 61, 8, 0], [4, 32, 71, 5], [0, 0, 24, 12]].
PINNED_DEMO = [[125, 62, 8, 0], [3, 34, 69, 6], [0, 0, 24, 12]]
