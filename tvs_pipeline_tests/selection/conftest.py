"""Selection fixtures: synthetic panels (factor blocks, trends, noise, calendars, gaps) and the
demo market's own funnel (real candidates and returns of a day)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.config import load_profile
from tvs_pipeline.funnel.dedup import dedup_listings
from tvs_pipeline.funnel.discovery import discover
from tvs_pipeline.funnel.enrichment import enrich
from tvs_pipeline.funnel.health import classify_health
from tvs_pipeline.funnel.history import validate_bars
from tvs_pipeline.funnel.normalization import returns_panel, wide_returns
from tvs_pipeline.market.demo import DemoMarket

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


CANDIDATE_COLUMNS = ["symbol", "sleeve", "scanner", "logic", "direction", "timescale",
                     "asset_class", "calendar", "sessions_per_year"]  # fmt: skip


def funnel_day(market: DemoMarket, day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The returns and candidates of ``day`` exactly as the asset graph builds them (scan,
    bars, health, enrichment, dedup, returns panel of the OK listings), without Dagster."""
    profile = load_profile("demo")
    run = profile.run
    found = discover(market, profile.scanners, day)
    symbols = found["symbol"].unique().tolist()
    start = day - timedelta(days=run.lookback_days - 1)
    bars = validate_bars(market.bars(symbols, start, day))
    listings = found.drop_duplicates("symbol")[["symbol", "sleeve", "asset_class", "calendar"]]
    health = classify_health(
        bars, listings, day, run.lookback_days, run.history_floor, profile.health
    )
    features = enrich(found, health, bars, day)
    ok = features.loc[features["status"] == "OK"]
    rows = found[CANDIDATE_COLUMNS].drop_duplicates(["symbol", "logic", "direction"])
    rows = rows.merge(ok[["symbol", "adv_usd_20", "adx_14", "vol_ann", "sector"]], on="symbol")
    candidates = dedup_listings(rows.assign(value_traded_usd=rows["adv_usd_20"]))
    candidates = candidates.rename(columns={"value_traded_usd": "value_traded", "adx_14": "adx"})
    return wide_returns(returns_panel(bars, ok["symbol"].tolist())), candidates


@pytest.fixture(scope="session")
def demo_funnel():
    """``demo_funnel(day, seed=7)`` -> (returns, candidates) of the demo market's funnel.

    Cached for the session; every call returns fresh copies, so a test cannot leak a change.
    """
    markets: dict[int, DemoMarket] = {}
    days: dict[tuple[int, date], tuple[pd.DataFrame, pd.DataFrame]] = {}

    def get(day: date, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
        if (seed, day) not in days:
            market = markets.setdefault(seed, DemoMarket(seed=seed))
            days[(seed, day)] = funnel_day(market, day)
        returns, candidates = days[(seed, day)]
        return returns.copy(), candidates.copy()

    return get
