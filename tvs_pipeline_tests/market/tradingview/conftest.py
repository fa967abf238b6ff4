"""Shared pieces of the TradingView tests: fixture paths, fast settings, a simulated clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tvs_pipeline.market.tradingview.testing import SimulatedClock
from tvs_pipeline.settings import TradingViewSettings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tradingview"
# The recorded sequences use this chart session id; a replaying client must use it too.
RECORDED_SESSION = "cs_Qm4xT8vLp2Za"
FAST = TradingViewSettings(
    requests_per_second=1000.0,
    page_size=1000,
    http_timeout=2.0,
    http_attempts=4,
    backoff_max=0.05,
    connections=2,
    pool_size=4,
    series_per_second=1000.0,
    idle_timeout=2.0,
    reconnects=3,
)


def fast_settings(**changes) -> TradingViewSettings:
    """Settings for local servers: no pacing to speak of, short timeouts and backoff."""
    return replace(FAST, **changes)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2025, 9, 2, 2, 0, tzinfo=UTC))


@pytest.fixture
def fast():
    """``fast(**changes)``: settings for local servers."""
    return fast_settings


@pytest.fixture
def frames_dir() -> Path:
    return FIXTURES
