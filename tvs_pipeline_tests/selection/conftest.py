"""Synthetic panels for selection tests: factor blocks, trends, noise, calendars, gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

DAYS = 400


def ar1(rng, n, phi, scale):
    shocks = rng.standard_normal(n) * scale * np.sqrt(1 - phi**2)
    out = np.empty(n)
    level = 0.0
    for t in range(n):
        level = phi * level + shocks[t]
        out[t] = level
    return out


def make_panel(seed: int = 0) -> pd.DataFrame:
    """400 calendar days; columns named by what generated them.

    ``F1_*``/``F2_*``: two factor blocks (4 listings each, pairwise correlation about 0.8);
    ``UP*``/``DN*``: trends (annual Sharpe 3, AR(1) 0.2); ``RW*``: white noise; ``EQ``: a trend
    on weekdays only; ``YOUNG``: noise over the last 100 days; ``QUIET``: a factor-1 listing
    with zero returns in the worst stretch of the panel.
    """
    rng = np.random.default_rng(seed)
    index = pd.date_range("2025-01-01", periods=DAYS, freq="D", name="market_date")
    vol = 0.02
    columns = {}
    crash = np.zeros(DAYS)
    crash[200:220] = -0.02  # a shared sell-off: the panel's stress window
    for block in (1, 2):
        factor = rng.standard_normal(DAYS) * vol + crash
        for k in range(4):
            columns[f"F{block}_{k}"] = factor + rng.standard_normal(DAYS) * vol * 0.5
    drift = 3.0 * vol / np.sqrt(365)
    for k in range(3):
        columns[f"UP{k}"] = drift + ar1(rng, DAYS, 0.2, vol)
    for k in range(2):
        columns[f"DN{k}"] = -drift + ar1(rng, DAYS, 0.2, vol)
    for k in range(4):
        columns[f"RW{k}"] = rng.standard_normal(DAYS) * vol
    columns["EQ"] = drift + ar1(rng, DAYS, 0.2, vol)
    columns["YOUNG"] = rng.standard_normal(DAYS) * vol
    columns["QUIET"] = columns["F1_0"] + rng.standard_normal(DAYS) * vol * 0.3
    frame = pd.DataFrame(columns, index=index)
    frame.loc[frame.index.day_of_week >= 5, "EQ"] = np.nan
    frame.iloc[: DAYS - 100, frame.columns.get_loc("YOUNG")] = np.nan
    frame.iloc[195:225, frame.columns.get_loc("QUIET")] = 0.0
    return frame


def make_candidates(panel: pd.DataFrame) -> pd.DataFrame:
    symbols = list(panel.columns)
    direction = ["SHORT" if s.startswith("DN") else "LONG" for s in symbols]
    return pd.DataFrame(
        {
            "symbol": symbols,
            "direction": direction,
            "sleeve": ["eq" if s == "EQ" else "crypto" for s in symbols],
            "logic": "trend",
            "value_traded": np.geomspace(1e6, 1e9, len(symbols)),
            "adx": np.linspace(15, 45, len(symbols)),
        }
    )


@pytest.fixture
def panel() -> pd.DataFrame:
    return make_panel()


@pytest.fixture
def candidates(panel) -> pd.DataFrame:
    return make_candidates(panel)
