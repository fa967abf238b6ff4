"""The discovery asset (tvs_pipeline/defs/assets/discovery.py): a rebuilt day says so.

Past days on the live source are answered point in time (the local scanner and chart servers
in front of the demo market, the service's clock at 2026-07-01 02:00): the day's rows record it
in ``point_in_time`` and its metadata carries the survivorship caveat; the service's own latest
day and the demo market never do.
"""

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from tvs_pipeline.config import load_scanner
from tvs_pipeline.defs.assets.discovery import discover_day, discovery_metadata
from tvs_pipeline.market.demo import DemoMarket
from tvs_pipeline.market.point_in_time import SURVIVORSHIP
from tvs_pipeline.market.tradingview import TradingViewSource
from tvs_pipeline.market.tradingview.testing import (
    ChartServer,
    DemoFeed,
    ScannerServer,
    SimulatedClock,
)
from tvs_pipeline.settings import TradingViewSettings

NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
LATEST, PAST = date(2026, 6, 30), date(2026, 6, 10)
FAST = {"requests_per_second": 1000.0, "series_per_second": 1000.0, "http_timeout": 2.0,
        "backoff_max": 0.05, "idle_timeout": 2.0}  # fmt: skip


@pytest.fixture(scope="module")
def demo():
    return DemoMarket(seed=7, scale=100)


@pytest.fixture(scope="module")
def scanners():
    # The FX sleeve: a pool of ten listings keeps the past day's bar fetch small.
    return [load_scanner("forex_majors_trend"), load_scanner("forex_majors_trend_short")]


@pytest.fixture(scope="module")
def found(demo, scanners):
    """The discovery rows of the latest day and of a past day, through the live source."""
    clock, feed = SimulatedClock(NOW), DemoFeed(demo)
    with (
        ScannerServer(feed.universe(clock), clock) as scanner,
        ChartServer(feed.history, clock) as chart,
    ):
        source = TradingViewSource(
            TradingViewSettings(scanner_url=scanner.url, ws_url=chart.url, **FAST)
        )
        return {day: discover_day(source, scanners, day) for day in (LATEST, PAST)}


def test_a_day_rebuilt_point_in_time_is_marked_and_carries_the_caveat(found):
    past = found[PAST]
    assert len(past) > 0 and past["point_in_time"].all()
    meta = discovery_metadata(past)
    assert meta["point_in_time"] == dg.MetadataValue.bool(True)
    assert meta["survivorship"] == dg.MetadataValue.text(SURVIVORSHIP)
    assert "delisted before today are absent" in meta["survivorship"].value


def test_the_services_own_day_and_the_demo_market_are_not(found, demo, scanners):
    latest = found[LATEST]
    assert len(latest) > 0 and not latest["point_in_time"].any()
    for rows in (latest, discover_day(demo, scanners, PAST)):
        meta = discovery_metadata(rows)
        assert meta["point_in_time"] == dg.MetadataValue.bool(False)
        assert "survivorship" not in meta
    assert str(latest["point_in_time"].dtype) == "bool"
