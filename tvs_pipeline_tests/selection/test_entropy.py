import math

import numpy as np
import pytest

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.selection.entropy import permutation_entropy, permutation_entropy_columns


def reference_entropy(x, order, delay):
    """Bandt-Pompe by hand: count argsort patterns in a dict, Shannon entropy / ln(order!)."""
    counts = {}
    for t in range(len(x) - (order - 1) * delay):
        pattern = tuple(np.argsort([x[t + i * delay] for i in range(order)], kind="stable"))
        counts[pattern] = counts.get(pattern, 0) + 1
    total = sum(counts.values())
    return -sum(c / total * math.log(c / total) for c in counts.values()) / math.log(
        math.factorial(order)
    )


def test_monotone_series_has_one_pattern():
    assert permutation_entropy(np.arange(60.0), order=3) == 0.0


def test_bandt_pompe_example():
    # Bandt & Pompe (2002), section 2: x = (4, 7, 9, 10, 6, 11, 3) has patterns 012 twice,
    # 201 twice and 102 once: H = 1.5219 bits, normalised by log2(3!) = 0.5888.
    x = [4, 7, 9, 10, 6, 11, 3]
    expected = -(0.8 * math.log(0.4) + 0.2 * math.log(0.2)) / math.log(6)
    np.testing.assert_allclose(permutation_entropy(x), expected, rtol=1e-12)
    np.testing.assert_allclose(expected * math.log2(6), 1.5219, atol=1e-4)


@pytest.mark.parametrize(
    ("x", "order", "delay", "expected"),
    [
        ([0, 1] * 30 + [0], 2, 1, 1.0),  # 30 ups, 30 downs: both order-2 patterns equally
        ([0, 1] * 30, 3, 2, 0.0),  # delay 2 reads (0, 0, 0) and (1, 1, 1): one tied pattern
        ([0, 1] * 31, 3, 1, math.log(2) / math.log(6)),  # (0,1,0), (1,0,1): 30 each
    ],
    ids=["alternating-order2", "alternating-delay2", "alternating-order3"],
)
def test_known_answers(x, order, delay, expected):
    np.testing.assert_allclose(permutation_entropy(x, order, delay), expected, atol=1e-12)


@pytest.mark.parametrize(("order", "delay"), [(3, 1), (4, 1), (5, 2), (7, 1)])
def test_matches_an_independent_count(order, delay):
    x = np.random.default_rng(order * 10 + delay).standard_normal(300)
    np.testing.assert_allclose(
        permutation_entropy(x, order, delay), reference_entropy(x, order, delay), rtol=1e-12
    )


def test_white_noise_is_close_to_one_and_order_and_delay_change_it():
    x = np.random.default_rng(1).standard_normal(5000)
    assert 0.998 < permutation_entropy(x) <= 1.0
    assert permutation_entropy(x, order=4) != permutation_entropy(x, order=3)
    assert permutation_entropy(x, delay=2) != permutation_entropy(x, delay=1)


def test_nans_are_dropped_not_propagated():
    x = np.random.default_rng(2).standard_normal(200)
    holes = np.insert(x, [10, 50, 51, 120], np.nan)
    assert permutation_entropy(holes) == permutation_entropy(x)


def test_too_short_is_nan_and_columns_match_the_scalar():
    assert np.isnan(permutation_entropy([1.0, 2.0], order=3))
    values = np.random.default_rng(3).standard_normal((120, 4))
    values[:30, 1] = np.nan  # a bottom-aligned column with a shorter history
    columns = permutation_entropy_columns(values)
    expected = [permutation_entropy(values[:, k]) for k in range(4)]
    np.testing.assert_allclose(columns, expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"order": 1}, "order 1 is outside"),
        ({"order": 8}, "order 8 is outside"),
        ({"order": 3.0}, "order must be an integer"),
        ({"delay": 0}, "delay 0 must be at least 1"),
        ({"delay": True}, "delay must be an integer"),
    ],
    ids=["order-low", "order-high", "order-float", "delay-zero", "delay-bool"],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        permutation_entropy(np.arange(10.0), **kwargs)


def test_two_dimensional_input_is_refused():
    with pytest.raises(DataError, match="expected a 1-D array"):
        permutation_entropy(np.zeros((5, 2)))
