"""The demo market's epoch and random streams (tvs_pipeline/market/demo/epoch.py)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

from tvs_pipeline.market.demo import EPOCH_END, EPOCH_START
from tvs_pipeline.market.demo.epoch import (
    CALENDAR,
    Streams,
    day_index,
    fat_tails,
    normal,
    stable_id,
    uniform,
)


def digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy()).hexdigest()


def test_streams_do_not_depend_on_the_process_hash_seed(market):
    """Every stream is seeded from crc32 ids, never ``hash()``: another process agrees."""
    window = (date(2026, 1, 1), date(2026, 1, 31))
    symbols = ["BINANCE:BTCUSDT", "BINANCE:USDCUSDT", market.listings["symbol"].iloc[5]]
    code = (
        "import datetime, hashlib, pandas as pd;"
        "from tvs_pipeline.market.demo import DemoMarket;"
        f"b = DemoMarket().bars({symbols!r}, *{window!r});"
        "print(hashlib.sha256(pd.util.hash_pandas_object(b, index=False).to_numpy()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == digest(market.bars(symbols, *window))


def test_day_index_counts_calendar_days_from_the_epoch_start():
    assert len(CALENDAR) == 2922  # 2021..2028: 8 x 365 + 2 leap days (2024, 2028)
    assert day_index(EPOCH_START) == 0
    assert day_index(date(2021, 3, 1)) == 59  # 31 January days + 28 February days
    assert day_index(date(2020, 12, 31)) == -1
    assert day_index(pd.Timestamp("2021-01-02 23:59")) == 1  # the time of day is dropped
    assert day_index(EPOCH_END) == 2921


def test_stable_id_is_crc32():
    assert stable_id("123456789") == 0xCBF43926  # the published CRC-32 check value
    assert stable_id("") == 0


def test_a_stream_is_one_row_per_calendar_day_and_seeded_by_its_three_keys():
    streams = Streams(seed=7)
    one = streams.draw(11, 0, normal, 3)
    assert one.shape == (2922, 3)
    np.testing.assert_array_equal(one, Streams(seed=7).draw(11, 0, normal, 3))
    for other in (Streams(seed=8).draw(11, 0, normal, 3), streams.draw(12, 0, normal, 3)):
        assert not np.any(one == other)
    assert not np.any(one == streams.draw(11, 1, normal, 3))


def test_a_shock_replaces_every_row_after_its_day_and_none_before():
    row = 1000
    plain, shocked = Streams(7).draw(5, 0, uniform, 2), Streams(7, row).draw(5, 0, uniform, 2)
    np.testing.assert_array_equal(shocked[: row + 1], plain[: row + 1])
    assert not np.any(shocked[row + 1 :] == plain[row + 1 :])
    last = Streams(7, 2921).draw(5, 0, uniform, 2)  # shocked after the last day: no change
    np.testing.assert_array_equal(last, plain)
    before = Streams(7, -10).draw(5, 0, uniform, 2)  # shocked before the epoch: every row
    assert not np.any(before == plain)


def test_the_draws_follow_their_distributions():
    rng = np.random.default_rng(0)
    tails = fat_tails(rng, (20_000, 1)).ravel()
    # Student-t with 4 dof divided by sqrt(2) (unit variance): a KS test against scipy's t
    assert stats.kstest(tails, lambda v: stats.t.cdf(v * np.sqrt(2.0), 4)).pvalue > 0.01
    assert np.abs(fat_tails(rng, (200_000, 1))).max() <= 8.0
    draws = uniform(rng, (20_000, 1)).ravel()
    assert draws.min() >= 0.0 and draws.max() < 1.0
    assert stats.kstest(draws, "uniform").pvalue > 0.01
    assert stats.kstest(normal(rng, (20_000, 1)).ravel(), "norm").pvalue > 0.01
