"""Past days on the live source, through both local servers: point in time, blind to the future."""

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from tvs_pipeline.config import load_profile
from tvs_pipeline.market.demo import DemoMarket
from tvs_pipeline.market.tradingview import TradingViewSource
from tvs_pipeline.market.tradingview.testing import (
    ChartServer,
    DemoFeed,
    ScannerServer,
    SimulatedClock,
)

NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
LATEST, PAST = date(2026, 6, 30), date(2026, 6, 10)


def serve(demo):
    clock = SimulatedClock(NOW)
    feed = DemoFeed(demo)
    return ScannerServer(feed.universe(clock), clock), ChartServer(feed.history, clock)


def scans(demo, fast, days, scanners):
    scanner_server, chart = serve(demo)
    with scanner_server, chart:
        source = TradingViewSource(fast(scanner_url=scanner_server.url, ws_url=chart.url))
        out = {(s.name, d): source.scan(s, d) for d in days for s in scanners}
        requests, series = len(scanner_server.log), len(chart.stats.series)
    return out, source, requests, series


@pytest.fixture(scope="module")
def demo():
    return DemoMarket(seed=7, scale=300)


@pytest.fixture(scope="module")
def scanners():
    return load_profile("demo").scanners[:2]  # us_equity_trend, crypto_top50_trend


@pytest.mark.slow
def test_a_past_day_is_rebuilt_point_in_time_and_blind_to_later_bars(demo, fast, scanners):
    days = (LATEST, PAST, date(2026, 6, 11))
    got, source, requests, series = scans(demo, fast, days, scanners)
    # The latest day is the service's own scan; earlier days are rebuilt from the bars up to D.
    assert source.past.days == {PAST, date(2026, 6, 11)}
    for scanner in scanners:
        for day in days:
            want = demo.scan(scanner, day)
            rows = got[(scanner.name, day)]
            assert sorted(rows["ticker"]) == sorted(want["ticker"]), (scanner.name, day)
        # crypto ranks by traded value (rebuilt): the same order as the demo market's own scan
        if scanner.universe.sort_by == "Value.Traded":
            assert (
                got[(scanner.name, PAST)]["ticker"].tolist()
                == demo.scan(scanner, PAST)["ticker"].tolist()
            )
    # Each pool is scanned once and its bars fetched once, whatever the number of days.
    pools = {c["pool"] for c in source.past.costs}
    assert len(source.past.costs) == 4 and len(pools) == 2
    assert requests == 2 + 2  # the two latest-day scans, then one pool scan per universe
    assert series == sum(pools)
    assert source.fetch_report().empty  # the pool's bars are not the day's bars

    # The same days behind a market whose every bar after PAST is another random path.
    shocked, *_ = scans(DemoMarket(seed=7, scale=300, shock_after=PAST), fast, days, scanners)
    for scanner in scanners:
        pd.testing.assert_frame_equal(shocked[(scanner.name, PAST)], got[(scanner.name, PAST)])
    assert any(
        not shocked[(s.name, date(2026, 6, 11))].equals(got[(s.name, date(2026, 6, 11))])
        for s in scanners
    )  # the shock has teeth
