"""One day's selection from the lake's frames (tvs_pipeline/selection/day.py)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from tvs_pipeline.errors import LookAheadError
from tvs_pipeline.selection.day import select_day
from tvs_pipeline.selection.params import SelectionParams

AS_OF = date(2025, 4, 10)  # the panel's last market date: 2025-01-01 + 99 days


def one_listing_day():
    """A's normalization rows (100 days up to AS_OF) and its dedup row, as the lake holds them."""
    panel = pd.DataFrame(
        {
            "symbol": ["A"] * 100,
            "market_date": pd.date_range("2025-01-01", periods=100),
            "ret": [0.01, -0.005] * 50,
        }
    )
    dedup = pd.DataFrame(
        {"symbol": ["A"], "direction": ["LONG"], "value_traded_usd": [5e7], "adx_14": [30.0]}
    )
    return panel, dedup


def test_dedup_columns_reach_select_under_its_names():
    panel, dedup = one_listing_day()
    panel_before, dedup_before = panel.copy(), dedup.copy()
    out = select_day(panel, dedup, SelectionParams(), AS_OF, "baseline")
    # the candidate's own columns first, renamed for select(), then the decision columns
    assert list(out.columns[:4]) == ["symbol", "direction", "value_traded", "adx"]
    assert out.loc[0, "value_traded"] == 5e7 and out.loc[0, "adx"] == 30.0
    assert out.loc[0, "liquidity"] == 5e7  # the liquidity feature reads value_traded
    assert out.loc[0, "n_obs"] == 100  # every return of the panel, none dropped
    assert out.loc[0, "engine"] == "baseline" and bool(out.loc[0, "selected"])
    pd.testing.assert_frame_equal(panel, panel_before)
    pd.testing.assert_frame_equal(dedup, dedup_before)


@pytest.mark.parametrize("engine", ["baseline", "htr_3_4", "v4"])
def test_the_named_engine_decides(engine):
    panel, dedup = one_listing_day()
    out = select_day(panel, dedup, SelectionParams(), AS_OF, engine)
    assert out["engine"].tolist() == [engine]


def test_the_params_reach_the_engine():
    panel, dedup = one_listing_day()
    strict = SelectionParams().updated(vetoes={"min_obs": 101})  # A has 100 returns
    out = select_day(panel, dedup, strict, AS_OF, "htr_3_4")
    assert "missing_data" in out.loc[0, "vetoes"] and not out.loc[0, "selected"]


def test_a_panel_row_after_the_as_of_date_is_refused():
    panel, dedup = one_listing_day()
    select_day(panel, dedup, SelectionParams(), AS_OF, "baseline")  # D itself is fine
    with pytest.raises(LookAheadError, match="market_date 2025-04-10 is after as-of date"):
        select_day(panel, dedup, SelectionParams(), date(2025, 4, 9), "htr_3_4")
