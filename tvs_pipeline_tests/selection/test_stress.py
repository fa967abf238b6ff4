import numpy as np
import pandas as pd

from tvs_pipeline.selection.stress import stress_windows, survival_shares


def panel_with_crashes():
    index = pd.date_range("2025-01-01", periods=200, freq="D")
    base = np.full(200, 0.001)
    base[20:30] = -0.02  # the mildest sell-off
    base[100:110] = -0.05  # the worst
    base[150:160] = -0.03
    frame = pd.DataFrame({"A": base, "B": base, "C": base, "D": base}, index=index)
    frame.iloc[100:110, 2] = 0.0  # C stops moving in the worst sell-off ...
    frame.iloc[150:160, 2] = np.nan  # ... and is missing in the second
    frame.iloc[:120, 3] = np.nan  # D lists after the two first windows
    return frame


def test_windows_are_the_worst_non_overlapping_losing_runs():
    frame = panel_with_crashes()
    windows = stress_windows(frame, count=3, length=10)
    assert windows == [(100, 110), (150, 160), (20, 30)]
    assert stress_windows(frame, count=1, length=10) == [(100, 110)]
    starts = [start for start, _ in stress_windows(frame, count=5, length=10)]
    assert all(abs(a - b) >= 10 for a in starts for b in starts if a != b)
    assert stress_windows(frame.abs(), count=3, length=10) == []  # never loses
    assert stress_windows(frame.iloc[:5], count=3, length=10) == []  # too short


def test_survival_counts_eligible_windows_it_traded_through():
    frame = panel_with_crashes()
    shares = survival_shares(frame, ["A", "C", "D"], [365, 365, 365], count=3, length=10)
    np.testing.assert_allclose(shares, [1.0, 1 / 3, 1.0])  # D: only the 150-160 window
    young = survival_shares(frame, ["D"], [365], count=1, length=10)
    assert np.isnan(young[0])  # listed after the only window


def test_weekday_listings_are_judged_on_their_own_sessions():
    frame = panel_with_crashes()
    frame.loc[frame.index.day_of_week >= 5, "B"] = np.nan
    shares = survival_shares(frame, ["A", "B"], [365, 252], count=3, length=10)
    np.testing.assert_allclose(shares, [1.0, 1.0])
    # judged against the every-day group, the weekday listing misses its weekends
    assert survival_shares(frame, ["A", "B"], [365, 365], count=3, length=10)[1] < 1.0
