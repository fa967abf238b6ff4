import numpy as np
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.selection.efficiency import efficiency_columns, efficiency_ratio


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        ([0.01] * 50, 1.0),
        ([-0.01] * 50, 1.0),
        ([0.01, -0.01] * 25, 0.0),
        ([0.02, -0.01, 0.03], 0.04 / 0.06),
        ([0.0, 0.0, 0.0], 0.0),
        ([0.02, np.nan, -0.01, 0.03, np.nan], 0.04 / 0.06),
    ],
    ids=["one-way-up", "one-way-down", "alternating", "hand", "flat", "with-nans"],
)
def test_known_answers(x, expected):
    np.testing.assert_allclose(efficiency_ratio(x), expected, rtol=1e-12, atol=1e-15)


def test_signed_columns_and_empty():
    values = np.array([[0.02, np.nan], [-0.03, np.nan], [0.0, np.nan]])
    np.testing.assert_allclose(efficiency_columns(values, signed=True)[0], -0.2, rtol=1e-12)
    np.testing.assert_allclose(efficiency_columns(values)[0], 0.2, rtol=1e-12)
    assert np.isnan(efficiency_columns(values)[1])
    assert np.isnan(efficiency_ratio([]))


def test_white_noise_scales_as_one_over_root_n():
    # E|sum r| / sum|r| = sqrt(2/pi) sqrt(n) / (sqrt(2/pi) n) = 1 / sqrt(n) for Gaussian noise.
    noise = np.random.default_rng(0).standard_normal((400, 5000))
    np.testing.assert_allclose(efficiency_columns(noise).mean(), 1 / np.sqrt(400), rtol=0.03)


def test_two_dimensional_input_is_refused():
    with pytest.raises(DataError, match="expected a 1-D array"):
        efficiency_ratio(np.zeros((3, 3)))
