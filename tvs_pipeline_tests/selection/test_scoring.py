import math

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.features import build_features
from tvs_pipeline.selection.scoring import (
    DEFAULT_CARS_WEIGHTS,
    DEFAULT_WEIGHTS,
    METRICS,
    cars_score,
    log_mps_score,
    map_probability,
    metric_probabilities,
)


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
    assert list(more.columns) == [f"p_{name}" for name in METRICS]


def frame(**columns):
    names = [f"p_{m}" for m in METRICS]
    data = {name: [0.5, 0.5] for name in names}
    data.update({f"p_{k}": v for k, v in columns.items()})
    return pd.DataFrame(data)


def test_log_mps_by_hand():
    probabilities = frame(momentum=[0.9, 0.2], efficiency=[0.6, 0.7], fragility=[1.0, 0.0])
    weights = dict(DEFAULT_WEIGHTS)
    expected = []
    for row in range(2):
        product = math.prod(probabilities.loc[row, f"p_{k}"] ** w for k, w in weights.items())
        expected.append(product * (1 - 0.5 * (1 - probabilities.loc[row, "p_fragility"])))
    np.testing.assert_allclose(log_mps_score(probabilities), expected, rtol=1e-12)
    assert log_mps_score(probabilities, fragility_penalty=0.0)[1] > log_mps_score(probabilities)[1]
    heavier = log_mps_score(probabilities, {"momentum": 3.0})
    assert heavier[1] < log_mps_score(probabilities)[1]


def test_cars_is_the_weighted_mean():
    probabilities = frame(momentum=[0.9, 0.2], kurtosis=[0.1, 0.8])
    total = sum(DEFAULT_CARS_WEIGHTS.values())
    expected = [
        sum(w * probabilities.loc[r, f"p_{k}"] for k, w in DEFAULT_CARS_WEIGHTS.items()) / total
        for r in range(2)
    ]
    np.testing.assert_allclose(cars_score(probabilities), expected, rtol=1e-12)
    only = cars_score(probabilities, {k: 0.0 for k in DEFAULT_CARS_WEIGHTS} | {"kurtosis": 1.0})
    np.testing.assert_allclose(only, [0.1, 0.8], rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: log_mps_score(p, {"alpha": 1.0}), "unknown metric 'alpha'"),
        (lambda p: log_mps_score(p, {"momentum": -1.0}), "weight of momentum must be finite"),
        (lambda p: log_mps_score(p, fragility_penalty=1.0), "fragility_penalty 1.0 is outside"),
        (lambda p: cars_score(p, {"fragility": float("nan")}), "weight of fragility"),
        (lambda p: cars_score(p, dict.fromkeys(DEFAULT_CARS_WEIGHTS, 0.0)), "at least one"),
    ],
    ids=["unknown", "negative", "penalty", "nan", "all-zero"],
)
def test_errors(call, message):
    with pytest.raises(ConfigError, match=message):
        call(frame())
