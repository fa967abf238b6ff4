"""Source faults in a step: the unreachable fail at once, every retry is said (log and terminal)."""

from __future__ import annotations

from typing import ClassVar

import dagster as dg

from tvs_pipeline.defs import partitions
from tvs_pipeline.defs.assets.discovery import discovery
from tvs_pipeline.defs.resources import build_resources
from tvs_pipeline.errors import SourceError, SourceUnavailable
from tvs_pipeline.funnel.source import RETRY_LOG
from tvs_pipeline.market import base
from tvs_pipeline.market.demo import DemoMarket

DAY = "2025-06-30"


class ScriptedSource:
    """Raises the scripted errors of its first scans (announcing one retry), then the demo's."""

    script: ClassVar[list[Exception]] = []

    def __init__(self) -> None:
        self.market = DemoMarket(seed=7)

    def scan(self, scanner, as_of):
        RETRY_LOG.warning("scanner %s: retry 1/4 in 0.5 s: HTTP 503", scanner.name)
        if ScriptedSource.script:
            raise ScriptedSource.script.pop(0)
        return self.market.scan(scanner, as_of)

    def bars(self, symbols, start, end):
        return self.market.bars(symbols, start, end)


def materialize(settings, monkeypatch, script, retry_seconds=0):
    monkeypatch.setitem(base.SOURCES, "scripted", lambda *args, **kwargs: ScriptedSource())
    monkeypatch.setattr(partitions, "SOURCE_RETRY_SECONDS", retry_seconds)
    ScriptedSource.script = list(script)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [discovery],
            partition_key=DAY,
            instance=instance,
            resources=build_resources(settings, source="scripted"),
            raise_on_error=False,
        )
        logged = [
            record.user_message
            for record in instance.all_logs(result.run_id)
            if record.level == 30  # WARNING
        ]
    restarts = [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    return result, logged, len(restarts)


def test_an_unreachable_source_fails_the_step_at_once(settings, monkeypatch, capsys):
    down = SourceUnavailable(
        "scanner x: https://scanner.invalid/america/scan: host does not resolve"
    )
    result, _, restarts = materialize(settings, monkeypatch, [down])
    assert not result.success and restarts == 0
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    assert (error.cause or error).message.startswith(f"{SourceUnavailable.__module__}.")
    assert "scanner.invalid" in (error.cause or error).message
    assert "discovery: retry" not in capsys.readouterr().err


def test_a_transient_fault_retries_the_step_and_says_so(settings, monkeypatch, capsys):
    flaky = SourceError("scanner x: https://h/america/scan failed 5 times; last: HTTP 503")
    result, logged, restarts = materialize(settings, monkeypatch, [flaky])
    assert result.success and restarts == 1
    step_line = f"discovery: retry 1/3 in 0 s: {flaky}"
    source_line = "retry 1/4 in 0.5 s: HTTP 503"
    err = capsys.readouterr().err
    assert f"  ↻ {step_line}\n" in err
    assert any(source_line in line for line in err.splitlines())
    assert f"↻ {step_line}" in logged
    assert any(line.startswith("↻ ") and source_line in line for line in logged)


def test_the_step_gives_up_after_its_retries_with_the_source_error(settings, monkeypatch, capsys):
    flaky = [SourceError(f"scanner x: HTTP 503 ({k})") for k in range(4)]
    result, _, restarts = materialize(settings, monkeypatch, flaky)
    assert not result.success and restarts == 3
    err = capsys.readouterr().err
    assert [ln.split(": HTTP")[0] for ln in err.splitlines() if ln.startswith("  ↻ discovery")] == [
        f"  ↻ discovery: retry {k}/3 in 0 s: scanner x" for k in (1, 2, 3)
    ]


def test_a_step_retry_that_would_pass_the_source_deadline_is_not_made(settings, monkeypatch):
    late = SourceError("scanner x: https://h/america/scan failed 5 times; last: HTTP 503")
    late.deadline_left = 30.0  # the source may fail 30 s more; a step retry waits 60 s
    result, _, restarts = materialize(settings, monkeypatch, [late], retry_seconds=60)
    assert not result.success and restarts == 0
    error = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    message = (error.cause or error).message
    assert "SourceUnavailable" in message
    assert message.rstrip().endswith(
        "a step retry in 60 s would pass the source deadline (TVS_TV_DEADLINE)"
    )
