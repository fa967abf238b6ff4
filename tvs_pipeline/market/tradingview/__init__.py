"""The live TradingView source: scanner discovery over HTTP, daily history over the websocket."""

from __future__ import annotations

from tvs_pipeline.market.tradingview.framing import (
    Heartbeat,
    PacketDecoder,
    encode_packet,
    encode_packets,
    frame,
)
from tvs_pipeline.market.tradingview.history import HistoryBatch, HistoryClient, SymbolOutcome
from tvs_pipeline.market.tradingview.scan_query import ScanPlan, check_column, plan_scan
from tvs_pipeline.market.tradingview.scanner import ScannerClient, ScanResult
from tvs_pipeline.market.tradingview.series import SeriesRequest, SeriesResult, fetch_series
from tvs_pipeline.market.tradingview.source import (
    FETCH_REPORT_COLUMNS,
    TV_BAR_COLUMNS,
    TradingViewSource,
    check_scan_day,
)

__all__ = [
    "FETCH_REPORT_COLUMNS",
    "TV_BAR_COLUMNS",
    "Heartbeat",
    "HistoryBatch",
    "HistoryClient",
    "PacketDecoder",
    "ScanPlan",
    "ScanResult",
    "ScannerClient",
    "SeriesRequest",
    "SeriesResult",
    "SymbolOutcome",
    "TradingViewSource",
    "check_column",
    "check_scan_day",
    "encode_packet",
    "encode_packets",
    "fetch_series",
    "frame",
    "plan_scan",
]
