"""The demo market tests share one market: building it (300 listings, 8 years) takes a second."""

from __future__ import annotations

import pandas as pd
import pytest

from tvs_pipeline.market.demo import EPOCH_END, EPOCH_START, DemoMarket


@pytest.fixture(scope="session")
def market() -> DemoMarket:
    """The default market (seed 7, scale 300); tests only read it."""
    return DemoMarket()


@pytest.fixture(scope="session")
def all_bars(market) -> pd.DataFrame:
    """Every bar of every listing over the whole epoch."""
    return market.bars(market.listings["symbol"], EPOCH_START, EPOCH_END)
