"""What the local chart server is told (testing/chart_options.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tvs_pipeline.market.tradingview.testing.chart_options import (
    SYMBOL_FAULTS,
    ChartOptions,
    ChartStats,
    SeriesData,
)


def test_the_defaults_are_the_captured_behaviour():
    options = ChartOptions()
    assert options.length_mode == "ascii" and options.batching == "reply"
    assert options.require_auth_first and not options.strict_lengths
    assert "bad-token" in options.bad_tokens and "expired-token" in options.expired_tokens
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.latency = 1.0  # type: ignore[misc]


def test_each_server_counts_into_its_own_stats():
    first, second = ChartStats(), ChartStats()
    first.received["create_series"] = 1
    first.series.append(("A", 10))
    assert second.received == {} and second.series == []


def test_series_data_holds_bars_and_the_faults_are_named():
    data = SeriesData(np.array([0.0]), np.ones((1, 5)), 86_400.0, {"name": "A"}, volume=False)
    assert data.values.shape == (1, 5) and not data.volume
    assert {"disconnect", "silent", "critical"} <= set(SYMBOL_FAULTS)
