"""Day-parallel map: the same results, in call order, and a worker's error unchanged."""

from __future__ import annotations

import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.parallel import map_calls


def scaled_sum(frame: pd.DataFrame, factor: float) -> float:
    if factor < 0:
        raise DataError(f"factor {factor} below zero")
    return float(frame["x"].sum() * factor)


CALLS = [{"frame": pd.DataFrame({"x": range(n)}), "factor": 0.5 * n} for n in range(24)]


def test_parallel_results_equal_sequential_ones_in_call_order():
    sequential = map_calls(scaled_sum, CALLS, workers=1)
    assert map_calls(scaled_sum, CALLS, workers=2, min_calls=2) == sequential
    assert sequential[3] == 3.0 * 1.5


def test_a_worker_error_is_raised_to_the_caller():
    bad = {"frame": pd.DataFrame({"x": [1]}), "factor": -1}
    with pytest.raises(DataError, match="factor -1 below zero"):
        map_calls(scaled_sum, [*CALLS, bad], workers=2, min_calls=2)


def test_few_calls_stay_in_the_calling_process():
    # A lambda cannot be pickled: it only works because two calls run here, not in workers.
    assert map_calls(lambda v: v + 1, [{"v": 1}, {"v": 2}], workers=2) == [2, 3]


@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "two-workers"])
def test_shared_arguments_join_every_call_by_keyword(workers):
    frame = pd.DataFrame({"x": [1, 2, 3]})
    calls = [{"factor": float(n)} for n in range(20)]
    expected = [6.0 * n for n in range(20)]
    shared = {"frame": frame}
    assert map_calls(scaled_sum, calls, workers=workers, min_calls=2, shared=shared) == expected
