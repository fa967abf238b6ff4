"""Local stand-ins for the TradingView services, for tests, benchmarks and offline dry runs.

Both listen on 127.0.0.1 only, on a free port, and stop themselves after ``max_lifetime``.
"""

from __future__ import annotations

from tvs_pipeline.market.tradingview.testing.chart_options import (
    SYMBOL_FAULTS,
    ChartOptions,
    ChartStats,
    SeriesData,
)
from tvs_pipeline.market.tradingview.testing.chart_server import ChartServer
from tvs_pipeline.market.tradingview.testing.markets import (
    DemoFeed,
    SimulatedClock,
    synthetic_history,
    synthetic_universe,
)
from tvs_pipeline.market.tradingview.testing.scanner_server import (
    FAULTS,
    ScannerOptions,
    ScannerServer,
)

__all__ = [
    "FAULTS",
    "SYMBOL_FAULTS",
    "ChartOptions",
    "ChartServer",
    "ChartStats",
    "DemoFeed",
    "ScannerOptions",
    "ScannerServer",
    "SeriesData",
    "SimulatedClock",
    "synthetic_history",
    "synthetic_universe",
]
