"""The allocation memo: the answer of allocate() on the same estimation window, solved once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.allocation import AllocationMemo, allocate
from tvs_pipeline.config.schema import AllocationConfig


def _returns(n_days: int = 200, n_atoms: int = 4, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 0.01, (n_days, n_atoms)) * rng.uniform(0.5, 2.0, n_atoms)
    index = pd.date_range("2025-01-01", periods=n_days, freq="D").as_unit("ns")
    return pd.DataFrame(values, index=index, columns=[f"atom{i}" for i in range(n_atoms)])


CONFIG = AllocationConfig(estimation_days=60, max_weight=0.6)


def test_memo_answers_as_allocate_does():
    returns = _returns()
    memo = AllocationMemo(CONFIG)
    for end in (80, 120, 200):
        pd.testing.assert_frame_equal(
            memo(returns.iloc[:end]), allocate(returns.iloc[:end], CONFIG)
        )
    assert (memo.misses, memo.hits) == (3, 0)


def test_same_window_behind_a_different_history_is_solved_once():
    returns = _returns()
    memo = AllocationMemo(CONFIG)
    first = memo(returns.iloc[:150])
    # A history that starts later but ends on the same 60 rows: allocate cannot tell them apart.
    again = memo(returns.iloc[50:150])
    pd.testing.assert_frame_equal(again, first)
    assert (memo.misses, memo.hits) == (1, 1)


def test_a_revised_value_or_another_atom_set_is_a_new_window():
    returns = _returns()
    memo = AllocationMemo(CONFIG)
    memo(returns.iloc[:150])
    revised = returns.iloc[:150].copy()
    revised.iloc[-1, 0] += 1e-12
    memo(revised)
    memo(returns.iloc[:150, :3])
    assert (memo.misses, memo.hits) == (3, 0)


def test_memo_keeps_at_most_max_entries():
    returns = _returns()
    memo = AllocationMemo(CONFIG, max_entries=2)
    for end in (100, 110, 120):
        memo(returns.iloc[:end])
    memo(returns.iloc[:100])  # the oldest window was dropped: solved again
    assert (memo.misses, memo.hits) == (4, 0)
    memo(returns.iloc[:100])
    assert memo.hits == 1
