"""Wilder indicators: independent re-derivations, causality, own-bar NaN handling, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.indicators import (
    rating_votes,
    rsi,
    true_range,
    vote_mean,
    wilder_adx,
    wilder_atr,
    wilder_dmi,
    wilder_smooth,
)

# A hand-sized bar series (16 bars) with up, down, inside and gap days.
HIGH = [
    10.5,
    11.0,
    11.2,
    10.9,
    11.6,
    12.1,
    11.8,
    12.4,
    12.0,
    11.5,
    11.9,
    12.6,
    13.0,
    12.7,
    13.4,
    13.1,
]
LOW = [
    9.8,
    10.2,
    10.6,
    10.1,
    10.8,
    11.4,
    11.0,
    11.6,
    11.2,
    10.7,
    11.1,
    11.8,
    12.3,
    11.9,
    12.6,
    12.4,
]
CLOSE = [
    10.2,
    10.9,
    10.7,
    10.5,
    11.5,
    11.6,
    11.2,
    12.3,
    11.4,
    11.0,
    11.8,
    12.5,
    12.4,
    12.0,
    13.3,
    12.6,
]

INDICATORS = {
    "atr": wilder_atr,
    "adx": wilder_adx,
    "rsi": lambda high, low, close: rsi(close),
    "true_range": true_range,
}


def reference_wilder(values: list[float], n: int) -> list[float]:
    """Wilder's textbook average: mean of the first n values, then (prev * (n - 1) + x) / n."""
    out = [np.nan] * len(values)
    for i in range(n - 1, len(values)):
        if i == n - 1:
            out[i] = sum(values[:n]) / n
        else:
            out[i] = (out[i - 1] * (n - 1) + values[i]) / n
    return out


def reference_dmi(high, low, close, n):
    """+DI, -DI, ADX by the book, bar by bar (first directional move on bar 1)."""
    tr, plus, minus = [], [], []
    for i in range(1, len(close)):
        up, down = high[i] - high[i - 1], low[i - 1] - low[i]
        plus.append(up if up > down and up > 0 else 0.0)
        minus.append(down if down > up and down > 0 else 0.0)
        tr.append(max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1])))
    atr, pdm, mdm = (reference_wilder(x, n) for x in (tr, plus, minus))
    pdi = [100 * p / a for p, a in zip(pdm, atr, strict=True)]
    mdi = [100 * m / a for m, a in zip(mdm, atr, strict=True)]
    dx = [100 * abs(p - m) / (p + m) for p, m in zip(pdi, mdi, strict=True)]
    first = next(i for i, v in enumerate(dx) if not np.isnan(v))
    adx = [np.nan] * first + reference_wilder(dx[first:], n)
    pad = [np.nan]
    return np.array(pad + pdi), np.array(pad + mdi), np.array(pad + adx)


def reference_rsi(close, n):
    changes = np.diff(close)
    gain = reference_wilder(list(np.clip(changes, 0, None)), n)
    loss = reference_wilder(list(np.clip(-changes, 0, None)), n)
    return np.array([np.nan] + [100 - 100 / (1 + g / s) for g, s in zip(gain, loss, strict=True)])


def bars(n_rows: int = 16) -> tuple[pd.Series, pd.Series, pd.Series]:
    index = pd.date_range("2025-01-01", periods=n_rows, freq="D")
    return (
        pd.Series(HIGH[:n_rows], index=index, name="X"),
        pd.Series(LOW[:n_rows], index=index, name="X"),
        pd.Series(CLOSE[:n_rows], index=index, name="X"),
    )


def random_panel(rows: int, cols: int, seed: int = 3) -> tuple[pd.DataFrame, ...]:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=rows, freq="D")
    close = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(0, 0.02, (rows, cols)), axis=0)),
        index=index,
        columns=[f"S{i}" for i in range(cols)],
    )
    high = close * np.exp(np.abs(rng.normal(0, 0.01, (rows, cols))))
    low = close * np.exp(-np.abs(rng.normal(0, 0.01, (rows, cols))))
    return high, low, close


def test_true_range_matches_definition():
    high, low, close = bars()
    expected = [HIGH[0] - LOW[0]] + [
        max(HIGH[i] - LOW[i], abs(HIGH[i] - CLOSE[i - 1]), abs(LOW[i] - CLOSE[i - 1]))
        for i in range(1, 16)
    ]
    np.testing.assert_allclose(true_range(high, low, close).to_numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("n", [3, 5], ids=["n3", "n5"])
def test_atr_rederived(n):
    high, low, close = bars()
    tr = [HIGH[0] - LOW[0]] + [
        max(HIGH[i] - LOW[i], abs(HIGH[i] - CLOSE[i - 1]), abs(LOW[i] - CLOSE[i - 1]))
        for i in range(1, 16)
    ]
    got = wilder_atr(high, low, close, n=n)
    np.testing.assert_allclose(got.to_numpy(), reference_wilder(tr, n), rtol=1e-12)
    assert got.first_valid_index() == close.index[n - 1]


@pytest.mark.parametrize("n", [3, 4], ids=["n3", "n4"])
def test_dmi_rederived(n):
    high, low, close = bars()
    plus_di, minus_di, adx = wilder_dmi(high, low, close, n=n)
    ref_plus, ref_minus, ref_adx = reference_dmi(HIGH, LOW, CLOSE, n)
    np.testing.assert_allclose(plus_di.to_numpy(), ref_plus, rtol=1e-12)
    np.testing.assert_allclose(minus_di.to_numpy(), ref_minus, rtol=1e-12)
    np.testing.assert_allclose(adx.to_numpy(), ref_adx, rtol=1e-12)
    np.testing.assert_allclose(wilder_adx(high, low, close, n=n).to_numpy(), ref_adx, rtol=1e-12)
    # +DI/-DI start at bar n, ADX at bar 2n - 1 (0-based).
    assert plus_di.first_valid_index() == close.index[n]
    assert adx.first_valid_index() == close.index[2 * n - 1]


def test_rsi_rederived():
    _, _, close = bars()
    np.testing.assert_allclose(rsi(close, n=5).to_numpy(), reference_rsi(CLOSE, 5), rtol=1e-12)


@pytest.mark.parametrize(
    ("closes", "expected"),
    [([1.0, 2, 3, 4, 5, 6], 100.0), ([6.0, 5, 4, 3, 2, 1], 0.0), ([3.0] * 6, 50.0)],
    ids=["only-gains", "only-losses", "flat"],
)
def test_rsi_edges(closes, expected):
    assert rsi(pd.Series(closes), n=3).iloc[-1] == expected


def test_flat_prices_have_zero_range_and_no_trend():
    flat = pd.Series([5.0] * 12)
    assert wilder_atr(flat, flat, flat, n=3).iloc[-1] == 0.0
    plus_di, minus_di, adx = wilder_dmi(flat, flat, flat, n=3)
    assert (plus_di.iloc[-1], minus_di.iloc[-1], adx.iloc[-1]) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("indicator", list(INDICATORS.values()), ids=list(INDICATORS))
def test_causal_appending_future_rows_changes_nothing(indicator):
    high, low, close = random_panel(260, 4)
    past = indicator(high.iloc[:200], low.iloc[:200], close.iloc[:200])
    full = indicator(high, low, close)
    pd.testing.assert_frame_equal(full.iloc[:200], past)


@pytest.mark.parametrize("indicator", list(INDICATORS.values()), ids=list(INDICATORS))
def test_nan_rows_are_skipped(indicator):
    """A column's missing rows neither enter nor age its indicator: own bars only."""
    high, low, close = random_panel(120, 3)
    holes = {"S0": [5, 40, 41, 42, 90], "S1": list(range(0, 10)), "S2": []}
    gappy = [frame.copy() for frame in (high, low, close)]
    for frame in gappy:
        for column, rows in holes.items():
            frame.iloc[rows, frame.columns.get_loc(column)] = np.nan
    result = indicator(*gappy)
    for column, rows in holes.items():
        keep = np.setdiff1d(np.arange(120), rows)
        own = indicator(*(frame[column].iloc[keep] for frame in (high, low, close)))
        np.testing.assert_allclose(result[column].iloc[keep].to_numpy(), own.to_numpy(), rtol=1e-12)
        assert result[column].iloc[rows].isna().all()


def test_frame_columns_match_series():
    high, low, close = random_panel(80, 3)
    frame = wilder_adx(high, low, close)
    for column in close.columns:
        alone = wilder_adx(high[column], low[column], close[column])
        pd.testing.assert_series_equal(frame[column], alone)


def test_inputs_are_not_modified():
    high, low, close = random_panel(60, 2)
    before = [frame.copy() for frame in (high, low, close)]
    wilder_dmi(high, low, close)
    wilder_atr(high, low, close)
    rsi(close)
    for frame, copy in zip((high, low, close), before, strict=True):
        pd.testing.assert_frame_equal(frame, copy)


def test_period_changes_output():
    high, low, close = random_panel(80, 2)
    assert not np.allclose(
        wilder_adx(high, low, close, n=7).iloc[-1], wilder_adx(high, low, close, n=14).iloc[-1]
    )
    assert not np.allclose(rsi(close, n=7).iloc[-1], rsi(close, n=14).iloc[-1])


def test_wilder_smooth_seed_and_recursion():
    values = pd.Series([2.0, 4.0, np.nan, 6.0, 8.0, 10.0])
    got = wilder_smooth(values, 3).to_numpy()
    np.testing.assert_allclose(got, [np.nan, np.nan, np.nan, 4.0, 16 / 3, 62 / 9], rtol=1e-12)


@pytest.mark.parametrize("n", [0, -3, 2.5, True], ids=["zero", "negative", "float", "bool"])
def test_bad_period_is_config_error(n):
    _, _, close = bars()
    with pytest.raises(ConfigError, match="must be an integer >= 1"):
        rsi(close, n=n)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda f: f.iloc[:-1],
        lambda f: f.rename(columns={"S0": "Z"}),
        lambda f: f["S0"],
    ],
    ids=["shorter", "renamed-column", "series-vs-frame"],
)
def test_misaligned_inputs_are_data_error(mangle):
    high, low, close = random_panel(30, 2)
    with pytest.raises(DataError, match="indicator inputs"):
        wilder_adx(high, mangle(low), close)


def _sma(values: np.ndarray, n: int) -> np.ndarray:
    return pd.DataFrame(values).rolling(n, min_periods=n).mean().to_numpy()


def test_rating_votes_of_straight_lines_by_hand():
    """A straight rise: every close is above its averages (MA +1 from the 10th close), RSI
    is 100 (vote -1 from bar 14), momentum is up (+1 from bar 10): Other is +1 on bars 10-13
    and 0 after. A fall mirrors it. A column that starts 50 rows down is the rise, shifted."""
    rise = np.arange(1.0, 251.0)
    late = np.full(250, np.nan)
    late[50:] = rise[:200]
    ma, other = rating_votes(np.column_stack([rise, rise[::-1], late]), _sma)
    expected_ma = np.where(np.arange(250) >= 9, 1.0, np.nan)
    expected_other = np.select([np.arange(250) >= 14, np.arange(250) >= 10], [0.0, 1.0], np.nan)
    np.testing.assert_array_equal(ma[:, 0], expected_ma)
    np.testing.assert_array_equal(other[:, 0], expected_other)
    np.testing.assert_array_equal(ma[:, 1], -expected_ma)
    np.testing.assert_array_equal(other[:, 1], -expected_other)
    np.testing.assert_array_equal(ma[50:, 2], expected_ma[:200])
    np.testing.assert_array_equal(other[50:, 2], expected_other[:200])
    assert np.isnan(ma[:50, 2]).all() and np.isnan(other[:50, 2]).all()


def test_vote_mean_counts_only_the_votes_cast():
    got = vote_mean([np.array([1.0, np.nan, -1.0, np.nan]), np.array([0.0, np.nan, 1.0, -1.0])])
    np.testing.assert_array_equal(got, [0.5, np.nan, 0.0, -1.0])
