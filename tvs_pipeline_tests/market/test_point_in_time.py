"""Point-in-time scanner fields from bars: equal to the demo market's, blind to the future."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.config import load_profile
from tvs_pipeline.config.schema import FilterRule
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.market.demo import DemoMarket
from tvs_pipeline.market.point_in_time import (
    FETCH_DAYS,
    RECONSTRUCTED,
    check_point_in_time,
    scan_at,
    snapshot_at,
)
from tvs_pipeline.market.query import ScanQuery, build_scan_query

AS_OF = date(2026, 6, 30)


@pytest.fixture(scope="module")
def demo():
    return DemoMarket(seed=7)


@pytest.fixture(scope="module")
def pool(demo):
    snap = demo.snapshot(AS_OF)
    return snap[["ticker", "name", "type", "exchange", "currency", "base_currency", "sector"]]


@pytest.fixture(scope="module")
def bars(demo, pool):
    start = AS_OF - timedelta(days=FETCH_DAYS + 40)
    return demo.bars(pool["ticker"].tolist(), start, AS_OF + timedelta(days=40)).rename(
        columns={"date": "market_date"}
    )


def test_rebuilt_fields_equal_the_demo_markets_own_snapshot(demo, pool, bars):
    # The demo computes its snapshot on each listing's whole history (methodology §13); the
    # point-in-time snapshot on the last 400 bars up to D. Wilder smoothing forgets its start
    # as (13/14)^n, so the two agree far below any threshold a filter uses.
    for day in (AS_OF, AS_OF - timedelta(days=17)):
        want = demo.snapshot(day).set_index("ticker").sort_index()
        got = snapshot_at(pool, bars, day).set_index("ticker").sort_index()
        want = want.loc[want.index.intersection(got.index)]
        assert len(want) > 250 and set(got.index) <= set(demo.snapshot(day)["ticker"])
        for field in RECONSTRUCTED:
            np.testing.assert_allclose(
                got.loc[want.index, field].to_numpy(float),
                want[field].to_numpy(float),
                rtol=1e-6,
                atol=1e-9,
                err_msg=field,
            )
        assert (got.loc[want.index, "sector"] == want["sector"]).all()


def test_a_hand_sized_listing_read_at_its_last_bar():
    days = pd.date_range("2026-01-01", periods=40, freq="D")
    close = 100.0 + np.arange(40.0)
    bars = pd.DataFrame(
        {
            "symbol": "X:A",
            "market_date": days,
            "open": close,
            "high": close + 2.0,
            "low": close - 2.0,
            "close": close,
            "volume": 10.0,
        }
    )
    pool = pd.DataFrame({"ticker": ["X:A", "X:GONE"], "name": ["A", "GONE"]})
    snap = snapshot_at(pool, bars, date(2026, 2, 5)).set_index("ticker")  # day 35: close 135
    assert list(snap.index) == ["X:A"]  # no bar: not listed
    row = snap.loc["X:A"]
    assert row["close"] == 135.0 and row["Value.Traded"] == 1350.0
    assert row["Perf.W"] == pytest.approx((135 / 128 - 1) * 100)  # the close 7 days earlier
    assert row["Perf.1M"] == pytest.approx((135 / 105 - 1) * 100)
    assert row["Perf.3M"] == pytest.approx((135 / 100 - 1) * 100)  # younger: its first bar
    assert row["Volatility.D"] == pytest.approx(4 / 133 * 100)
    assert row["ATR"] == pytest.approx(4.0)  # every true range is 4 (high-low; gaps of 1 < 2)
    assert row["Recommend.MA"] == 1.0  # above every available moving average


def test_partition_d_is_blind_to_bars_after_d(demo, pool, bars):
    scanner = load_profile("demo").scanners[0]
    query = build_scan_query(scanner)
    rng = np.random.default_rng(0)
    after = pd.to_datetime(bars["market_date"]) > pd.Timestamp(AS_OF)
    shocked = bars.copy()
    for column in ("open", "high", "low", "close", "volume"):
        shocked.loc[after, column] = shocked.loc[after, column] * rng.uniform(0.2, 5.0, after.sum())
    before = scan_at(query, scanner.name, pool, bars, AS_OF)
    pd.testing.assert_frame_equal(scan_at(query, scanner.name, pool, shocked, AS_OF), before)
    later = AS_OF + timedelta(days=30)
    assert not scan_at(query, scanner.name, pool, bars, later).equals(
        scan_at(query, scanner.name, pool, shocked, later)
    )  # the shock has teeth


@pytest.mark.parametrize("index", [0, 1, 2, 3], ids=["us", "crypto", "crypto-short", "etf"])
def test_the_whole_query_runs_at_d_ranking_and_limit_included(demo, pool, bars, index):
    scanner = load_profile("demo").scanners[index]
    query = build_scan_query(scanner)
    rows = scan_at(query, scanner.name, pool, bars, AS_OF)
    want = demo.scan(scanner, AS_OF)
    assert len(want) and len(rows) <= query.limit
    if query.sort_by == "market_cap_basic":  # not rebuilt: the same members, ranked by ticker
        assert sorted(rows["ticker"]) == sorted(want["ticker"])
        by_scanner = rows.sort_values([scanner.sort_by, "ticker"], ascending=[False, True])
        wanted = want.sort_values([scanner.sort_by, "ticker"], ascending=[False, True])
        assert by_scanner["ticker"].tolist() == wanted["ticker"].tolist()
    else:
        assert rows["ticker"].tolist() == want["ticker"].tolist()


def query(*rules, sort_by="Value.Traded", limit=10):
    return ScanQuery("america", tuple(rules), ("close", sort_by), sort_by, "desc", limit)


def test_a_filter_bars_do_not_determine_is_refused_for_a_past_day():
    rule = FilterRule(column="market_cap_basic", op=">", value=1e9)
    with pytest.raises(ConfigError) as caught:
        check_point_in_time(query(rule), "us", AS_OF)
    message = str(caught.value)
    assert message.startswith(
        "scanner us: as_of 2026-06-30: filter market_cap_basic > cannot be applied to a past day"
    )
    assert "\n" not in message


def test_a_sort_bars_do_not_determine_is_refused_only_when_its_limit_cuts(demo, pool, bars):
    wide = query(sort_by="market_cap_basic", limit=100_000)
    assert len(scan_at(wide, "us", pool, bars, AS_OF)) == len(snapshot_at(pool, bars, AS_OF))
    with pytest.raises(ConfigError, match="sort_by market_cap_basic with limit 10 would choose"):
        scan_at(query(sort_by="market_cap_basic"), "us", pool, bars, AS_OF)
    # Another timeframe's column is no daily bar's either, though its field name is.
    with pytest.raises(ConfigError, match=r"sort_by ADX\|240 with limit 10 would choose"):
        scan_at(query(sort_by="ADX|240"), "us", pool, bars, AS_OF)
