"""Market data sources: the interface, the embedded demo market, scanner queries."""

from __future__ import annotations

from tvs_pipeline.market.base import BAR_COLUMNS, MarketSource, make_source
from tvs_pipeline.market.query import ScanQuery, apply_query, build_scan_query

__all__ = [
    "BAR_COLUMNS",
    "MarketSource",
    "ScanQuery",
    "apply_query",
    "build_scan_query",
    "make_source",
]
