"""Cutting a multi-day input by day: DaySlices is day_rows without the quadratic mask."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.defs.partitions import DaySlices, day_rows


def _frame(ordered: bool) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    days = pd.date_range("2026-01-01", periods=5).as_unit("ns")
    picked = rng.choice(days.to_numpy(), 60)
    frame = pd.DataFrame({"date": picked, "symbol": [f"S{i % 7}" for i in range(60)]})
    frame = frame.assign(value=np.arange(60.0)).set_index(pd.RangeIndex(100, 160))
    return frame.sort_values("date", kind="stable") if ordered else frame


@pytest.mark.parametrize("ordered", [True, False], ids=["date-ordered", "shuffled"])
def test_day_slices_equal_day_rows_for_every_day(ordered):
    frame = _frame(ordered)
    slices = DaySlices(frame)
    for day in pd.date_range("2025-12-31", "2026-01-07").date:
        pd.testing.assert_frame_equal(slices[day], day_rows(frame, day))


def test_a_day_without_rows_gives_an_empty_frame_with_the_columns():
    empty = DaySlices(_frame(True))[date(2027, 1, 1)]
    assert empty.empty and list(empty.columns) == ["symbol", "value"]
    assert DaySlices(_frame(True).iloc[:0])[date(2026, 1, 1)].empty
