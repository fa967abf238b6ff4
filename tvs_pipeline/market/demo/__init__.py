"""The embedded demo market: a seeded, deterministic stand-in for TradingView bars and scans."""

from __future__ import annotations

from tvs_pipeline.market.demo.market import EPOCH_END, EPOCH_START, DemoMarket

__all__ = ["EPOCH_END", "EPOCH_START", "DemoMarket"]
