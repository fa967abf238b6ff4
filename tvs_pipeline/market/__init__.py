"""Market data sources: the embedded demo market and (later) TradingView."""

from __future__ import annotations

from tvs_pipeline.market.query import ScanQuery, apply_query, build_scan_query

__all__ = ["ScanQuery", "apply_query", "build_scan_query"]
