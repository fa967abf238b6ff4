"""Failing fast offline, announcing every retry, one deadline: real resolvers and real sockets."""

import logging
import socket
import time

import pytest
import requests

from tvs_pipeline.errors import SourceError, SourceUnavailable
from tvs_pipeline.market.query import ScanQuery
from tvs_pipeline.market.tradingview import HistoryClient, SeriesRequest, TradingViewSource
from tvs_pipeline.market.tradingview.faults import RETRY_LOG, FaultClock, unreachable
from tvs_pipeline.market.tradingview.scan_query import plan_scan
from tvs_pipeline.market.tradingview.scanner import ScannerClient
from tvs_pipeline.market.tradingview.testing import ScannerServer, synthetic_universe

# ``.invalid`` never resolves (RFC 2606): a name that does not exist, answered at once.
NO_SUCH_HOST = "scanner.invalid"
PLAN = plan_scan(
    ScanQuery("america", (), ("name", "close"), "close", "desc", 10), "us_equity_trend"
)


def _a_resolver_answers() -> bool:
    """Whether a resolver answers here: without one every lookup is EAI_AGAIN (transient)."""
    try:
        socket.getaddrinfo(NO_SUCH_HOST, 443)
    except socket.gaierror as err:
        return err.errno != socket.EAI_AGAIN
    return False


NEEDS_RESOLVER = pytest.mark.skipif(
    not _a_resolver_answers(), reason="no DNS resolver answers here (every lookup is EAI_AGAIN)"
)
KINDS = [pytest.param("no-such-host", marks=NEEDS_RESOLVER), "refused"]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def resolver_error(host: str) -> socket.gaierror:
    try:
        socket.getaddrinfo(host, 443)
    except socket.gaierror as err:
        return err
    raise AssertionError(f"{host} resolved")


@NEEDS_RESOLVER
def test_a_name_that_does_not_resolve_is_not_transient():
    err = resolver_error(NO_SUCH_HOST)
    assert err.errno != socket.EAI_AGAIN
    reason = unreachable(err, f"https://{NO_SUCH_HOST}/america/scan")
    assert reason == f"host {NO_SUCH_HOST} does not resolve ({err.strerror})"


def test_a_temporary_resolver_failure_is_transient():
    err = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    assert unreachable(err, "https://scanner.tradingview.com") is None


def test_a_refused_connection_is_not_transient_even_deep_in_a_requests_error():
    port = closed_port()
    with pytest.raises(requests.ConnectionError) as caught:
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert unreachable(caught.value, f"http://127.0.0.1:{port}/") == (
        f"127.0.0.1:{port} refused the connection"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_the_scanner_fails_at_once_naming_the_host(fast, kind):
    port = closed_port()
    host = NO_SUCH_HOST if kind == "no-such-host" else f"127.0.0.1:{port}"
    scanner = ScannerClient(fast(scanner_url=f"http://{host}", http_attempts=5, backoff_max=5.0))
    started = time.perf_counter()
    with pytest.raises(SourceUnavailable) as caught:
        scanner.scan(PLAN, "us_equity_trend")
    assert time.perf_counter() - started < 5
    assert scanner.requests_sent == 1  # no retry
    message = str(caught.value)
    assert "\n" not in message and host.split(":")[0] in message
    assert message.startswith(f"scanner us_equity_trend: http://{host}/america/scan: ")


@pytest.mark.parametrize("kind", KINDS)
def test_the_chart_socket_fails_at_once_naming_the_host(fast, kind):
    port = closed_port()
    host = "chart.invalid" if kind == "no-such-host" else f"127.0.0.1:{port}"
    client = HistoryClient(fast(ws_url=f"ws://{host}/socket.io/websocket", backoff_max=5.0))
    started = time.perf_counter()
    with pytest.raises(SourceUnavailable, match=f"cannot connect to ws://{host}") as caught:
        client.fetch([SeriesRequest("NASDAQ:AAPL", 0.0)])
    assert time.perf_counter() - started < 5
    assert "\n" not in str(caught.value)


def test_every_scanner_retry_is_announced(clock, fast, caplog):
    universe = synthetic_universe(50)
    with ScannerServer(lambda m: universe, clock, faults=["503", "reset", "ok"]) as server:
        scanner = ScannerClient(fast(scanner_url=server.url, http_attempts=4))
        where = f"scanner us_equity_trend: {server.url}/america/scan"
        with caplog.at_level(logging.WARNING, logger=RETRY_LOG.name):
            scanner.scan(PLAN, "us_equity_trend")
    lines = [r.getMessage() for r in caplog.records if r.name == RETRY_LOG.name]
    assert len(lines) == 2
    assert lines[0].startswith(f"{where}: retry 1/3 in ") and "HTTP 503" in lines[0]
    assert lines[1].startswith(f"{where}: retry 2/3 in ") and "connection error" in lines[1]


def test_the_deadline_bounds_the_retries(clock, fast):
    universe = synthetic_universe(50)
    with ScannerServer(lambda m: universe, clock, faults=["503"] * 20) as server:
        # Backoff 1, 2, 4 s (capped at 4 s, jittered): a 3 s deadline refuses the second wait.
        scanner = ScannerClient(
            fast(scanner_url=server.url, http_attempts=20, backoff_max=4.0, deadline=3.0)
        )
        started = time.perf_counter()
        with pytest.raises(SourceUnavailable, match=r"source deadline of 3 s \(TVS_TV_DEADLINE\)"):
            scanner.scan(PLAN, "us_equity_trend")
    assert time.perf_counter() - started < 3.5
    assert 2 <= scanner.requests_sent <= 3


def test_exhausted_tries_within_the_deadline_stay_retryable(clock, fast, caplog):
    with ScannerServer(lambda m: synthetic_universe(5), clock, faults=["503"] * 9) as server:
        scanner = ScannerClient(fast(scanner_url=server.url, http_attempts=2, deadline=100.0))
        with (
            caplog.at_level(logging.WARNING, logger=RETRY_LOG.name),
            pytest.raises(SourceError) as caught,
        ):
            scanner.scan(PLAN, "us_equity_trend")
    assert not isinstance(caught.value, SourceUnavailable)
    assert scanner.requests_sent == 2
    said = [r.getMessage() for r in caplog.records if r.name == RETRY_LOG.name]
    assert len(said) == 1 and ": retry 1/1 in " in said[0]  # no retry after the last try
    # What is left of the deadline travels with the error, for the step retry to weigh.
    assert 99.0 < caught.value.deadline_left <= 100.0


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_fault_clock_runs_from_the_first_fault_and_stops_at_a_success():
    ticks = Ticks()
    clock = FaultClock(100.0, ticks)
    clock.check(60.0, "x", "503")  # first fault at 0: 0 + 60 <= 100
    ticks.now = 50.0
    with pytest.raises(SourceUnavailable, match="x: failing for 50 s; another try in 60 s"):
        clock.check(60.0, "x", "503")
    clock.success()
    assert clock.failing_for() == 0.0
    clock.check(60.0, "x", "503")  # a new episode


def test_a_fault_long_after_the_last_one_starts_a_new_episode():
    ticks = Ticks()
    clock = FaultClock(100.0, ticks)
    clock.check(10.0, "x", "503")
    ticks.now = 86_400.0  # the next night: yesterday's failure is not today's
    clock.check(60.0, "x", "503")
    assert clock.failing_for() == 0.0


def test_a_step_retrys_wait_stays_in_the_episode():
    ticks = Ticks()
    clock = FaultClock(100.0, ticks)
    clock.check(5.0, "x", "503")
    ticks.now = 65.0  # a step retry 60 s later fails again: the same outage
    with pytest.raises(SourceUnavailable, match="failing for 65 s"):
        clock.check(40.0, "x", "503")
    assert clock.left() == 35.0


def test_the_source_shares_one_deadline_between_scanner_and_chart(fast):
    source = TradingViewSource(fast(deadline=42.0))
    assert source.scanner.faults is source.faults is source.history.faults
    assert source.faults.deadline == 42.0
