import numpy as np
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.selection.aligned import as_series, bottom_align, last_rows


def test_bottom_align_keeps_order_and_moves_values_down():
    nan = np.nan
    values = np.array([[1.0, nan], [nan, 5.0], [2.0, nan], [3.0, 6.0], [nan, nan]])
    before = values.copy()
    aligned = bottom_align(values)
    np.testing.assert_array_equal(values, before)
    expected = np.array([[nan, nan], [nan, nan], [1.0, nan], [2.0, 5.0], [3.0, 6.0]])
    np.testing.assert_array_equal(aligned, expected)


def test_last_rows_and_series():
    aligned = np.arange(10.0).reshape(5, 2)
    assert last_rows(aligned, None) is aligned
    np.testing.assert_array_equal(last_rows(aligned, 2), aligned[3:])
    np.testing.assert_array_equal(as_series([1.0, np.nan, np.inf, 2.0]), [1.0, 2.0])


def test_one_dimensional_input_is_refused():
    with pytest.raises(DataError, match="expected a 2-D array"):
        bottom_align(np.zeros(3))
