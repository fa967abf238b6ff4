import math

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.features import build_features
from tvs_pipeline.selection.scoring import (
    cars_score,
    log_mps_score,
    map_probability,
    metric_probabilities,
)

# The eleven metrics of docs/methodology.md, section 8.4, in the order of the p_* columns.
METRIC_NAMES = [
    "momentum",
    "stability",
    "efficiency",
    "entropy",
    "hurst",
    "adx",
    "liquidity",
    "antifragility",
    "survival",
    "fragility",
    "kurtosis",
    "reversion",
    "anti_persistence",
    "half_life",
    "rating_ic",
]


def phi(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


@pytest.mark.parametrize(
    ("values", "method", "higher", "expected"),
    [
        ([3.0, 1.0, 2.0], "rank", True, [2.5 / 3, 0.5 / 3, 1.5 / 3]),
        ([3.0, 1.0, 2.0], "rank", False, [0.5 / 3, 2.5 / 3, 1.5 / 3]),
        ([1.0, 1.0, 2.0, np.nan], "rank", True, [1.0 / 3, 1.0 / 3, 2.5 / 3, 0.5]),
        ([5.0, 5.0, 5.0], "normal", True, [0.5, 0.5, 0.5]),
        ([np.nan, 1.0], "normal", True, [0.5, 0.5]),
    ],
    ids=["rank", "rank-lower-better", "rank-ties-nan", "normal-constant", "normal-one-value"],
)
def test_map_probability_known_answers(values, method, higher, expected):
    out = map_probability(pd.Series(values), method, higher)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_normal_map_by_hand_with_clipping():
    values = pd.Series([0.0, 1.0, 2.0, 3.0, 100.0])
    mean, std = values.mean(), values.std(ddof=1)
    expected = [phi(max(-3.0, min(3.0, (v - mean) / std))) for v in values]
    np.testing.assert_allclose(map_probability(values, "normal"), expected, rtol=1e-12)
    with pytest.raises(ConfigError, match="probability map 'logistic': unknown"):
        map_probability(values, "logistic")


def test_candidates_without_returns_are_neutral_and_do_not_shift_ranks(panel):
    one = pd.DataFrame({"symbol": ["UP0", "UP1", "RW0"], "direction": "LONG"})
    with_ghost = pd.concat([one, pd.DataFrame({"symbol": ["GHOST"], "direction": ["LONG"]})])
    base = metric_probabilities(build_features(panel, one))
    more = metric_probabilities(build_features(panel, with_ghost.reset_index(drop=True)))
    pd.testing.assert_frame_equal(base, more.iloc[:3])
    assert (more.iloc[3] == 0.5).all()
    assert list(more.columns) == [f"p_{name}" for name in METRIC_NAMES]


def frame(**columns):
    """Two candidates, every probability 0.5 except the ones given."""
    data = {f"p_{name}": [0.5, 0.5] for name in METRIC_NAMES}
    data.update({f"p_{k}": v for k, v in columns.items()})
    return pd.DataFrame(data)


def test_log_mps_by_hand_with_explicit_exponents():
    """Only momentum (exponent 1) and efficiency (exponent 2) count; every other exponent is 0.

    Row 0: 0.9 x 0.6^2 = 0.324, fragility 1.0 costs nothing. Row 1: 0.2 x 0.7^2 = 0.098, and the
    most fragile candidate (p_fragility 0) loses half of it: 0.049.
    """
    probabilities = frame(momentum=[0.9, 0.2], efficiency=[0.6, 0.7], fragility=[1.0, 0.0])
    only = {name: 0.0 for name in METRIC_NAMES if name != "fragility"}
    weights = only | {"momentum": 1.0, "efficiency": 2.0}
    np.testing.assert_allclose(log_mps_score(probabilities, weights), [0.324, 0.049], rtol=1e-12)
    no_penalty = log_mps_score(probabilities, weights, fragility_penalty=0.0)
    np.testing.assert_allclose(no_penalty, [0.324, 0.098], rtol=1e-12)
    heavier = log_mps_score(probabilities, weights | {"momentum": 3.0})
    np.testing.assert_allclose(heavier, [0.9**3 * 0.36, 0.2**3 * 0.49 * 0.5], rtol=1e-12)


def test_log_mps_default_exponents_are_the_documented_ones():
    """docs/methodology.md 8.4: efficiency 2, momentum 1, survival 1, hurst 0.5, stability 0.5,
    entropy/adx/antifragility/kurtosis/liquidity 0.25 each: 6.25 in all, 3 of them on momentum
    and efficiency, so 3.25 on the metrics left at 0.5."""
    probabilities = frame(momentum=[0.9, 0.2], efficiency=[0.6, 0.7], fragility=[1.0, 0.0])
    expected = [0.9 * 0.6**2 * 0.5**3.25, 0.2 * 0.7**2 * 0.5**3.25 * 0.5]
    np.testing.assert_allclose(log_mps_score(probabilities), expected, rtol=1e-12)
    neutral = frame(fragility=[0.5, 1.0])  # every metric at 0.5: 0.5^6.25 x penalty factor
    np.testing.assert_allclose(log_mps_score(neutral), [0.5**6.25 * 0.75, 0.5**6.25], rtol=1e-12)
    one = {"survival": [0.25, 0.5], "hurst": [0.5, 0.25], "kurtosis": [0.5, 0.5]}
    ratio = log_mps_score(frame(**one)) / log_mps_score(frame())
    np.testing.assert_allclose(ratio, [0.5**1.0, 0.5**0.5], rtol=1e-12)  # p halved: 0.5^w


def test_cars_is_the_weighted_mean_by_hand():
    """Documented CARS 2.1 weights sum to 1: momentum 0.20, kurtosis 0.05. With every other
    probability at 0.5 the score is 0.5 + 0.20 (p_momentum - 0.5) + 0.05 (p_kurtosis - 0.5):
    0.5 + 0.08 - 0.02 = 0.56 and 0.5 - 0.06 + 0.015 = 0.455."""
    probabilities = frame(momentum=[0.9, 0.2], kurtosis=[0.1, 0.8])
    np.testing.assert_allclose(cars_score(probabilities), [0.56, 0.455], rtol=1e-12)
    only = cars_score(probabilities, dict.fromkeys(METRIC_NAMES, 0.0) | {"kurtosis": 1.0})
    np.testing.assert_allclose(only, [0.1, 0.8], rtol=1e-12)
    # unnormalised weights are divided by their sum: 3 x 0.9 + 1 x 0.1 over 4 = 0.7
    two = cars_score(
        probabilities, dict.fromkeys(METRIC_NAMES, 0.0) | {"momentum": 3.0, "kurtosis": 1.0}
    )
    np.testing.assert_allclose(two, [0.7, 0.35], rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: log_mps_score(p, {"alpha": 1.0}), "unknown metric 'alpha'"),
        (lambda p: log_mps_score(p, {"momentum": -1.0}), "weight of momentum must be finite"),
        (lambda p: log_mps_score(p, fragility_penalty=1.0), "fragility_penalty 1.0 is outside"),
        (lambda p: cars_score(p, {"fragility": float("nan")}), "weight of fragility"),
        (lambda p: cars_score(p, dict.fromkeys(METRIC_NAMES, 0.0)), "at least one"),
    ],
    ids=["unknown", "negative", "penalty", "nan", "all-zero"],
)
def test_errors(call, message):
    with pytest.raises(ConfigError, match=message):
        call(frame())
