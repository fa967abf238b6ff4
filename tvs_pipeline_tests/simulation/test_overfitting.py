"""Tests of the deflated Sharpe ratio, the probability of backtest overfitting and trial counts."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.simulation.overfitting import (
    DEFAULT_SPLITS,
    deflated_sharpe_ratio,
    distinct_trials,
    expected_max_sharpe,
    pbo_logits,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)

# ---------------------------------------------------------------- hand derivations


def _hand_sr0(n: int, v: float) -> float:
    g = 0.5772156649015329  # Euler–Mascheroni
    z = (1 - g) * stats.norm.ppf(1 - 1 / n) + g * stats.norm.ppf(1 - 1 / (n * math.e))
    return math.sqrt(v) * z


def _hand_psr(sr: float, bench: float, t: int, skew: float, kurt: float) -> float:
    return stats.norm.cdf(
        (sr - bench) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    )


def test_probabilistic_sharpe_ratio_by_hand():
    got = probabilistic_sharpe_ratio(0.1, 0.02, 500, -0.5, 5.0)
    np.testing.assert_allclose(got, _hand_psr(0.1, 0.02, 500, -0.5, 5.0), rtol=1e-12)
    # z = 0.08·√499 / √(1 + 0.05 + 0.01) by hand
    z = 0.08 * math.sqrt(499) / math.sqrt(1.06)
    np.testing.assert_allclose(got, stats.norm.cdf(z), rtol=1e-12)


@pytest.mark.parametrize(
    ("n", "v"),
    [(2, 0.001), (10, 0.002), (100, 0.0004), (5000, 0.01)],
    ids=["n2", "n10", "n100", "n5000"],
)
def test_expected_max_sharpe_by_hand(n, v):
    np.testing.assert_allclose(expected_max_sharpe(n, v), _hand_sr0(n, v), rtol=1e-12)


def test_expected_max_sharpe_of_one_trial_or_no_spread_is_zero():
    assert expected_max_sharpe(1, 0.5) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0


def test_deflated_sharpe_ratio_by_hand():
    sr, n, v, t, sk, ku = 0.12, 40, 0.0015, 750, -0.8, 6.5
    expected = _hand_psr(sr, _hand_sr0(n, v), t, sk, ku)
    np.testing.assert_allclose(deflated_sharpe_ratio(sr, n, v, t, sk, ku), expected, rtol=1e-12)


def test_deflated_sharpe_ratio_paper_example():
    # Bailey & López de Prado (2014), the numerical example: annualised SR 2.5 (250 days a
    # year), N = 100 trials with annualised Sharpe variance 1/2, T = 1250 daily returns,
    # skew −3, kurtosis 10 -> E[max SR] ≈ 0.1132 per day and DSR ≈ 0.9004.
    sr, v = 2.5 / math.sqrt(250), 0.5 / 250
    assert expected_max_sharpe(100, v) == pytest.approx(0.1132, abs=5e-5)
    assert deflated_sharpe_ratio(sr, 100, v, 1250, -3.0, 10.0) == pytest.approx(0.9004, abs=5e-5)


def test_normal_returns_reduce_to_the_textbook_standard_error():
    # skew 0, kurtosis 3: the denominator is √(1 + SR²/2) (Lo 2002 under iid normal returns).
    sr, n, v, t = 0.08, 20, 0.001, 1000
    z = (sr - _hand_sr0(n, v)) * math.sqrt(t - 1) / math.sqrt(1 + sr**2 / 2)
    np.testing.assert_allclose(
        deflated_sharpe_ratio(sr, n, v, t, 0.0, 3.0), stats.norm.cdf(z), rtol=1e-12
    )


# ---------------------------------------------------------------- properties

BASE = {
    "sharpe": 0.1,
    "n_trials": 20,
    "sharpe_variance": 0.001,
    "n_obs": 1000,
    "skew": -0.3,
    "kurtosis": 4.0,
}


@pytest.mark.parametrize(
    ("name", "values", "direction"),
    [
        ("n_trials", [1, 2, 5, 20, 100, 1000, 100_000], -1),
        ("sharpe_variance", [0.0, 1e-4, 5e-4, 0.001, 0.002, 0.004], -1),
        ("n_obs", [50, 100, 250, 500, 1000, 5000], +1),
    ],
    ids=["decreases-in-trials", "decreases-in-variance", "increases-in-observations"],
)
def test_deflated_sharpe_ratio_is_monotone(name, values, direction):
    dsr = np.array([deflated_sharpe_ratio(**{**BASE, name: x}) for x in values])
    assert (direction * np.diff(dsr) > 0).all(), dsr


@pytest.mark.parametrize("variance", [0.0, 0.001, 0.3], ids=["v0", "v-small", "v-large"])
def test_one_trial_is_the_probabilistic_sharpe_ratio_against_zero(variance):
    got = deflated_sharpe_ratio(0.05, 1, variance, 300, 0.4, 7.0)
    assert got == probabilistic_sharpe_ratio(0.05, 0.0, 300, 0.4, 7.0)


def test_deflated_sharpe_ratio_is_a_probability():
    assert 0.0 <= deflated_sharpe_ratio(-0.5, 1000, 0.01, 5000, 0.0, 3.0) < 1e-12
    assert deflated_sharpe_ratio(0.5, 2, 0.0001, 5000, 0.0, 3.0) == pytest.approx(1.0)


# ---------------------------------------------------------------- DSR errors


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"n_obs": 1}, "n_obs is 1, expected an integer ≥ 2"),
        ({"n_obs": 100.5}, "n_obs is 100.5"),
        ({"n_trials": 0}, "n_trials is 0, expected an integer ≥ 1"),
        ({"n_trials": True}, "n_trials is True"),
        ({"n_trials": "ten"}, "n_trials is 'ten'"),
        ({"sharpe_variance": -1e-6}, "sharpe_variance is -1e-06, expected ≥ 0"),
        ({"sharpe_variance": math.inf}, "sharpe_variance is inf, expected a finite number"),
        ({"sharpe": math.nan}, "sharpe is nan, expected a finite number"),
        ({"skew": math.inf}, "skew is inf"),
        ({"kurtosis": None}, "kurtosis is None"),
        (
            {"sharpe": 0.5, "skew": 5.0, "kurtosis": 3.0},
            r"1 − skew·SR \+ \(kurtosis − 1\)/4·SR² is -1\.375",
        ),
    ],
    ids=[
        "t1",
        "t-float",
        "n0",
        "n-bool",
        "n-str",
        "v-neg",
        "v-inf",
        "sr-nan",
        "skew-inf",
        "kurt-none",
        "denominator",
    ],
)
def test_deflated_sharpe_ratio_rejects_bad_input(change, match):
    with pytest.raises(DataError, match=f"deflated_sharpe_ratio: {match}"):
        deflated_sharpe_ratio(**{**BASE, **change})


def test_pieces_reject_bad_input():
    with pytest.raises(DataError, match="probabilistic_sharpe_ratio: benchmark is nan"):
        probabilistic_sharpe_ratio(0.1, math.nan, 100, 0.0, 3.0)
    with pytest.raises(DataError, match="probabilistic_sharpe_ratio: 1 − skew·SR"):
        probabilistic_sharpe_ratio(1.0, 0.0, 100, 2.0, 3.0)
    with pytest.raises(DataError, match="expected_max_sharpe: n_trials is 0"):
        expected_max_sharpe(0, 0.1)
    with pytest.raises(DataError, match=r"expected_max_sharpe: sharpe_variance is -0\.1"):
        expected_max_sharpe(3, -0.1)


# ---------------------------------------------------------------- PBO: brute force


def _brute_logits(values: np.ndarray, s: int) -> list[float]:
    """CSCV written out: explicit loops over the combinations, Sharpe from the rows."""
    t, n = values.shape
    m = t // s
    kept = values[t - s * m :]
    blocks = [kept[b * m : (b + 1) * m] for b in range(s)]

    def sharpe(rows: np.ndarray) -> np.ndarray:
        out = []
        for j in range(n):
            col = rows[:, j]
            sd = col.std(ddof=1)
            out.append(0.0 if np.all(col == col[0]) or sd < 1e-12 else col.mean() / sd)
        return np.array(out)

    logits = []
    for chosen in itertools.combinations(range(s), s // 2):
        train = np.vstack([blocks[b] for b in chosen])
        test = np.vstack([blocks[b] for b in range(s) if b not in chosen])
        best = int(np.argmax(sharpe(train)))
        rank = stats.rankdata(sharpe(test))[best]  # ties: average rank
        w = rank / (n + 1)
        logits.append(math.log(w / (1 - w)))
    return logits


def _panel(seed: int, rows: int, cols: int, scale: float = 0.01) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=rows, freq="D")
    return pd.DataFrame(
        rng.normal(0.0, scale, (rows, cols)), index=index, columns=[f"s{j}" for j in range(cols)]
    )


@pytest.mark.parametrize("seed", [1, 2, 3], ids=["seed1", "seed2", "seed3"])
def test_pbo_equals_brute_force(seed):
    panel = _panel(seed, 63, 5)  # 6 blocks of 10 rows; the 3 oldest rows are dropped
    panel["s1"] += 0.004
    before = panel.copy()
    brute = _brute_logits(panel.to_numpy(), 6)
    got = pbo_logits(panel, n_splits=6)
    pd.testing.assert_frame_equal(panel, before)
    assert len(got) == math.comb(6, 3) == 20
    np.testing.assert_array_equal(got, brute)
    assert probability_of_backtest_overfitting(panel, n_splits=6) == np.mean(np.array(brute) <= 0)


def test_pbo_equals_brute_force_with_flat_halves_and_ties():
    panel = _panel(4, 60, 5)
    panel.iloc[:30, 2] = 0.0  # out of the market for the first three blocks
    panel["s3"] = 0.001  # a constant return: Sharpe 0 on every half
    panel["s4"] = panel["s0"]  # a duplicate: an exact tie, in and out of sample
    np.testing.assert_array_equal(pbo_logits(panel, n_splits=6), _brute_logits(panel.to_numpy(), 6))


def _two_blocks(first: list[float], second: list[float]) -> pd.DataFrame:
    """Three strategies over two blocks of 20 rows: a shared unit-std noise plus a mean each."""
    e = np.random.default_rng(5).normal(size=20)
    e = (e - e.mean()) / e.std(ddof=1)  # so a column's Sharpe on a block is its mean
    rows = [np.column_stack([mu + e for mu in means]) for means in (first, second)]
    return pd.DataFrame(np.vstack(rows), columns=["s0", "s1", "s2"])


def test_pbo_median_winner_counts_as_overfit():
    # Winner of each half ranks 2 of 3 in the other: ω̄ = 2/4, λ = 0, counted as overfit.
    swapped = _two_blocks([0.5, 0.3, 0.1], [0.3, 0.5, 0.1])
    np.testing.assert_array_equal(pbo_logits(swapped, n_splits=2), [0.0, 0.0])
    assert probability_of_backtest_overfitting(swapped, n_splits=2) == 1.0
    # The same order in both halves: the winner is best out of sample, λ = ln(3/4 / 1/4).
    stable = _two_blocks([0.5, 0.3, 0.1], [0.5, 0.3, 0.1])
    np.testing.assert_allclose(pbo_logits(stable, n_splits=2), [math.log(3.0)] * 2, rtol=1e-15)
    assert probability_of_backtest_overfitting(stable, n_splits=2) == 0.0


def test_pbo_drops_the_oldest_leftover_rows():
    panel = _panel(6, 64, 4)
    junk = pd.DataFrame(np.full((3, 4), 50.0), columns=panel.columns)
    longer = pd.concat([junk, panel], ignore_index=True)
    np.testing.assert_array_equal(pbo_logits(longer, n_splits=8), pbo_logits(panel, n_splits=8))


def test_n_splits_changes_the_combinations():
    panel = _panel(7, 160, 6)
    assert len(pbo_logits(panel, n_splits=4)) == 6
    assert len(pbo_logits(panel, n_splits=8)) == 70
    assert len(pbo_logits(panel)) == math.comb(DEFAULT_SPLITS, DEFAULT_SPLITS // 2) == 12_870
    pbos = {s: probability_of_backtest_overfitting(panel, n_splits=s) for s in (4, 8, 16)}
    assert len(set(pbos.values())) == 3, pbos


# ---------------------------------------------------------------- PBO and DSR on simulated panels


def test_pbo_of_pure_noise_is_a_coin():
    # 50 iid normal strategies, 1,000 rows. One panel's PBO swings widely (seeds 0–39 gave
    # 0.08 … 0.77, mean 0.47): all 12,870 combinations reuse the same 16 blocks. The mean over
    # seeds 0–9 was 0.508 (means of other ten-seed groups 0.44–0.48; standard error ~0.05).
    pbos = [
        probability_of_backtest_overfitting(_panel(seed, 1000, 50, 0.005)) for seed in range(10)
    ]
    assert all(0.05 < p < 0.95 for p in pbos), pbos
    assert 0.35 <= np.mean(pbos) <= 0.65, pbos


def _moments(series: pd.Series) -> tuple[float, float]:
    return float(stats.skew(series)), float(stats.kurtosis(series, fisher=False))


@pytest.mark.parametrize("seed", [0, 1, 2], ids=["seed0", "seed1", "seed2"])
def test_a_planted_edge_is_found_and_survives_deflation(seed):
    # 50 strategies at 0.5 %/day vol; s7 earns 0.1 %/day more (Sharpe 0.2 a day, ~3.2 a year).
    panel = _panel(seed, 1000, 50, 0.005)
    panel["s7"] += 0.001
    assert probability_of_backtest_overfitting(panel) < 0.1  # seeds 0–9: at most 0.021

    sharpe = panel.mean() / panel.std()
    n, v = distinct_trials(panel), float(sharpe.var())
    assert n == 50 and sharpe.idxmax() == "s7"
    dsr_edge = deflated_sharpe_ratio(float(sharpe["s7"]), n, v, len(panel), *_moments(panel["s7"]))
    best_noise = sharpe.drop("s7").idxmax()
    dsr_noise = deflated_sharpe_ratio(
        float(sharpe[best_noise]), n, v, len(panel), *_moments(panel[best_noise])
    )
    assert dsr_edge > 0.95  # seeds 0–9: at least 0.992
    assert dsr_noise < 0.5  # seeds 0–9: at most 0.36


# ---------------------------------------------------------------- PBO errors


@pytest.mark.parametrize("n_splits", [0, 1, 3, 15, -2, 2.0, True, "16", None], ids=str)
def test_pbo_rejects_bad_splits(n_splits):
    with pytest.raises(ConfigError, match=r"n_splits is .*, expected an even integer ≥ 2"):
        probability_of_backtest_overfitting(_panel(0, 100, 3), n_splits=n_splits)


@pytest.mark.parametrize(
    ("panel", "match"),
    [
        (_panel(0, 100, 1), "1 strategy columns, expected at least 2"),
        (
            _panel(0, 31, 3),
            "31 rows give blocks of 1 rows for 16 splits, expected at least 32 rows",
        ),
        (_panel(0, 100, 3).mask(lambda f: f > 0.015), "non-finite values, expected none"),
        (_panel(0, 100, 3).assign(s0=np.inf), "100 non-finite values"),
        (_panel(0, 100, 3).assign(s0="x"), "non-numeric column"),
        (np.zeros((100, 3)), "returns is a ndarray, expected a DataFrame"),
    ],
    ids=["one-column", "too-few-rows", "nan", "inf", "text", "array"],
)
def test_pbo_rejects_bad_returns(panel, match):
    with pytest.raises(DataError, match=match):
        probability_of_backtest_overfitting(panel)


# ---------------------------------------------------------------- distinct trials


def test_distinct_trials_collapses_duplicates():
    panel = _panel(8, 30, 4)
    panel["dup0"] = panel["s0"]
    panel["dup2"] = panel["s2"] + 1e-14  # within the default atol
    panel["near"] = panel["s1"] + 1e-9  # not within it
    panel["late"] = panel["s3"]
    panel.iloc[-1, -1] += 0.01  # same first rows, different last one: another trial
    before = panel.copy()
    assert distinct_trials(panel) == 6
    pd.testing.assert_frame_equal(panel, before)
    assert distinct_trials(panel, atol=1e-8) == 5  # atol matters


def test_distinct_trials_nan_equals_nan_only():
    panel = pd.DataFrame(
        {
            "a": [0.1, np.nan, 0.2],
            "b": [0.1, np.nan, 0.2],
            "c": [0.1, 0.0, 0.2],
            "d": [np.inf, 1.0, 2.0],
            "e": [np.inf, 1.0, 2.0],
        }
    )
    assert distinct_trials(panel) == 3


def test_distinct_trials_of_nothing_is_zero():
    assert distinct_trials(pd.DataFrame(index=range(5))) == 0


@pytest.mark.parametrize("atol", [-1e-9, math.nan, math.inf, "0", True], ids=str)
def test_distinct_trials_rejects_bad_tolerance(atol):
    with pytest.raises(
        ConfigError, match=r"distinct_trials: atol is .*, expected a finite number ≥ 0"
    ):
        distinct_trials(_panel(0, 10, 2), atol=atol)


def test_distinct_trials_rejects_text():
    with pytest.raises(DataError, match="distinct_trials: returns hold a non-numeric column"):
        distinct_trials(pd.DataFrame({"a": ["x", "y"]}))
