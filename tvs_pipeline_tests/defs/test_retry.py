"""A transient source fault retries the step; a data error does not."""

from __future__ import annotations

import dagster as dg

from tvs_pipeline.defs import partitions
from tvs_pipeline.defs.assets.discovery import discovery
from tvs_pipeline.defs.resources import build_resources
from tvs_pipeline.errors import SourceError
from tvs_pipeline.market import base
from tvs_pipeline.market.demo import DemoMarket


class FlakySource:
    """Fails its first scan with a source fault, then answers like the demo market."""

    failures = 0

    def __init__(self) -> None:
        self.market = DemoMarket(seed=7)

    def scan(self, scanner, as_of):
        if FlakySource.failures == 0:
            FlakySource.failures += 1
            raise SourceError("scanner: HTTP 503 after 3 attempts")
        return self.market.scan(scanner, as_of)

    def bars(self, symbols, start, end):
        return self.market.bars(symbols, start, end)


def test_source_fault_retries_the_step(settings, monkeypatch):
    monkeypatch.setitem(base.SOURCES, "flaky", lambda *args, **kwargs: FlakySource())
    monkeypatch.setattr(partitions, "SOURCE_RETRY_SECONDS", 0)
    FlakySource.failures = 0
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [discovery],
            partition_key="2025-06-30",
            instance=instance,
            resources=build_resources(settings, source="flaky"),
        )
    assert result.success
    restarts = [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    assert len(restarts) == 1
