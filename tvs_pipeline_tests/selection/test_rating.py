"""The technical rating read back from returns (tvs_pipeline/selection/rating.py): the demo
scanner's Recommend.All, and its information coefficient against a reference correlation."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.market.demo import EPOCH_START, DemoMarket
from tvs_pipeline.selection.aligned import bottom_align
from tvs_pipeline.selection.rating import rating_ic_columns, technical_rating


@pytest.fixture(scope="module")
def market() -> DemoMarket:
    return DemoMarket(seed=7)


@pytest.mark.parametrize("kind", ["rated", "mean_revert", "trend_up", "factor"])
def test_the_rating_is_the_scanners_recommend_all(market, kind):
    """Closes rebuilt from returns (any scale) give the snapshot's Recommend.All, computed by
    the demo market's own indicator code."""
    day = date(2025, 12, 31)
    truth = market.ground_truth()
    listings = market.listings.set_index("symbol")
    symbol = next(
        s for s in truth.loc[truth["kind"] == kind, "symbol"] if listings.loc[s, "type"] == "stock"
    )
    bars = market.bars([symbol], EPOCH_START, day)
    closes = bars["close"].to_numpy()
    rebuilt = np.cumprod(np.concatenate([[1.0], closes[1:] / closes[:-1]]))
    rating = technical_rating(pd.DataFrame({"x": rebuilt}))["x"].to_numpy()
    shown = market.snapshot(day).set_index("ticker").loc[symbol, "Recommend.All"]
    np.testing.assert_allclose(rating[-1], shown, atol=1e-9)


def test_rating_ic_is_a_reference_correlation():
    rng = np.random.default_rng(7)
    r = rng.normal(0, 0.02, 300)
    close = pd.Series(np.cumprod(np.concatenate([[1.0], 1 + r])))
    rating = technical_rating(close.to_frame("x"))["x"]
    forward = np.log(close).shift(-10) - np.log(close)
    expected = rating.corr(forward)  # pandas: pairwise complete observations
    got = rating_ic_columns(r.reshape(-1, 1), horizon=10)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert rating_ic_columns(r.reshape(-1, 1), horizon=3)[0] != got


def test_rating_ic_separates_the_planted_kinds(market):
    """Rated listings read above 0 (their rating carries a signal), mean-reverting ones well
    below (the rating is late), random walks about 0."""
    day = date(2025, 12, 31)
    truth = market.ground_truth().set_index("symbol")
    bars = market.bars(truth.index.tolist(), date(2024, 8, 19), day)
    closes = bars.pivot(index="date", columns="symbol", values="close")
    ic = pd.Series(
        rating_ic_columns(bottom_align(closes.pct_change(fill_method=None).to_numpy())),
        index=closes.columns,
    )
    median = ic.groupby(truth["kind"].reindex(ic.index)).median()
    assert median["rated"] > 0.05
    assert median["mean_revert"] < -0.2
    assert abs(median["random_walk"]) < 0.1
    assert np.isnan(rating_ic_columns(np.full((20, 1), 0.01))[0])  # fewer than 30 pairs
