"""The pool of chart sessions against the generating chart server on 127.0.0.1."""

import re
import time
from datetime import UTC, date, datetime

import numpy as np
import pytest

from tvs_pipeline.errors import SourceError
from tvs_pipeline.market.tradingview import HistoryClient, SeriesRequest
from tvs_pipeline.market.tradingview.faults import RETRY_LOG
from tvs_pipeline.market.tradingview.testing import (
    SYMBOL_FAULTS,
    ChartOptions,
    ChartServer,
    synthetic_history,
)

DAYS = 700  # bars 2024-01-01 .. 2025-11-30; the clock stands at 2025-09-02 02:00
SINCE = datetime(2024, 1, 20, tzinfo=UTC).timestamp()


def symbols(n):
    return [f"BINANCE:T{i}USDT" for i in range(n)]


def fetch(server, fast, names, since=SINCE, **settings):
    client = HistoryClient(fast(ws_url=server.url, **settings))
    return client.fetch([SeriesRequest(name, since) for name in names])


def expected_times(clock, since=SINCE):
    start = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    times = start + 86400.0 * np.arange(DAYS)
    return times[(times >= since - 86400) & (times <= clock().timestamp())]


def complete(batch, name):
    outcome = batch.outcomes[name]
    assert outcome.error is None, outcome.error
    return np.array(sorted(outcome.result.bars))


def test_a_batch_over_the_pool_gets_every_bar_once(clock, fast):
    with ChartServer(synthetic_history(DAYS), clock) as server:
        batch = fetch(server, fast, symbols(12), pool_size=3, connections=2)
    assert server.stats.connections == 2
    assert batch.sent["chart_create_session"] == 3 and batch.sent["create_series"] == 12
    for name in symbols(12):
        times = complete(batch, name)
        # The window plus the forming bar of 2025-09-02 (dropped later by the source).
        assert times[0] <= SINCE and times[-1] == datetime(2025, 9, 2, tzinfo=UTC).timestamp()
        assert len(np.unique(times)) == len(times)


@pytest.mark.parametrize(
    "options",
    [
        ChartOptions(max_bars_per_request=100),
        ChartOptions(max_bars_per_request=100, completed_marker="none"),
        ChartOptions(
            max_bars_per_request=100, exhausted_reply="completed_only", completed_marker="none"
        ),
        ChartOptions(max_bars_per_request=100, older_index="negative"),
        ChartOptions(max_bars_per_request=100, empty_update_first=True, resolved_late=True),
        ChartOptions(max_bars_per_request=100, batching="packet"),
    ],
    ids=["marker", "no-marker", "no-marker-no-update", "negative-i", "order", "per-packet"],
)
def test_paging_back_under_every_unverified_reading(clock, fast, options):
    with ChartServer(synthetic_history(DAYS), clock, options) as server:
        batch = fetch(server, fast, symbols(2))
    for name in symbols(2):
        times = complete(batch, name)
        assert times[0] <= SINCE
        assert np.isin(expected_times(clock), times).all()
        assert batch.outcomes[name].result.done == "depth reached"
    assert batch.sent["request_more_data"] == 2 * 5  # 593 bars at 100 a page: 1 + 5 pages


@pytest.mark.parametrize(
    ("options", "done"),
    [
        (ChartOptions(), "history end"),
        (ChartOptions(completed_marker="none"), "no older bars"),
        (ChartOptions(history_limit=300), "history limit"),
    ],
    ids=["end-marker", "no-growth", "plan-limit"],
)
def test_a_short_history_ends_on_the_marker_or_no_growth(clock, fast, options, done):
    early = datetime(2023, 1, 1, tzinfo=UTC).timestamp()  # before the listing's first bar
    with ChartServer(synthetic_history(DAYS), clock, options) as server:
        batch = fetch(server, fast, ["BINANCE:AUSDT"], since=early)
    result = batch.outcomes["BINANCE:AUSDT"].result
    assert result.done == done
    assert len(result.bars) == (300 if "limit" in done else 611)


def test_a_fresh_listing_asks_for_little(clock, fast):
    recent = datetime(2025, 8, 27, 20, tzinfo=UTC).timestamp()
    with ChartServer(synthetic_history(DAYS), clock) as server:
        batch = fetch(server, fast, ["BINANCE:AUSDT"], since=recent)
    # 08-27 20:00 to 09-02 02:00 is 5.25 days: 6 bars and 2 to spare.
    assert server.stats.create_counts == [8]
    assert server.stats.more_counts == [] and len(batch.outcomes["BINANCE:AUSDT"].result.bars) == 8


@pytest.mark.parametrize("fault", SYMBOL_FAULTS)
def test_one_faulty_symbol_never_fails_the_batch(clock, fast, fault, caplog):
    names = symbols(6)
    with ChartServer(synthetic_history(DAYS), clock, faults={names[2]: fault}) as server:
        batch = fetch(server, fast, [*names, "BINANCE:NOPE"], idle_timeout=3.0)
    for name in names:
        if name != names[2]:
            assert len(complete(batch, name)) > 500
    faulty = batch.outcomes[names[2]]
    recoverable = ("disconnect", "malformed", "lying_length", "split", "trailing_junk")
    if fault in (*recoverable, "paging_disconnect"):  # the window here needs no paging
        assert len(complete(batch, names[2])) > 500  # recovered
    else:
        reason = {
            "silent": "no answer within 3s after create_series",
            "series_error": "series_error: study_not_auth",
            "critical": "critical_error invalid parameters: fault",
        }[fault]
        assert faulty.result is None and faulty.error.startswith(reason)
    assert batch.outcomes["BINANCE:NOPE"].error == "symbol_error: invalid symbol (BINANCE:NOPE)"
    if fault == "disconnect":
        assert faulty.attempts == 2 and server.stats.connections == 3
        said = [r.getMessage() for r in caplog.records if r.name == RETRY_LOG.name]
        # The drop is seen by the reader (no close code) or by a send racing it: either way
        # one line naming the host, the drop and the wait.
        pattern = (
            r"chart 127\.0\.0\.1:\d+: socket (dropped \(code none\)|closed while sending \(.+\)); "
            r"reconnecting in \d+\.\d s \(drop 1, the symbol resumes\)"
        )
        assert len(said) == 1 and re.fullmatch(pattern, said[0]), said
    if fault in ("malformed", "lying_length", "trailing_junk"):
        assert batch.anomalies


def test_a_drop_while_paging_back_resumes_to_the_full_window(clock, fast):
    # 100 bars a page: the socket drops halfway through the third page, 350 bars held. The
    # retry asks for the newest bars again; its first chunks only overlap what is held, and
    # that must not read as "no older bars": the resumed series pages on to the window start.
    name = "BINANCE:AUSDT"
    options = ChartOptions(max_bars_per_request=100)
    with ChartServer(synthetic_history(DAYS), clock, options, {name: "paging_disconnect"}) as s:
        batch = fetch(s, fast, [name])
    outcome = batch.outcomes[name]
    times = complete(batch, name)
    assert outcome.attempts == 2 and s.stats.connections == 2
    assert np.isin(expected_times(clock), times).all()
    assert outcome.result.done == "depth reached"


def test_every_server_heartbeat_is_echoed_once_and_the_socket_stays_up(clock, fast):
    # The server drops a socket whose echo is late: 2 s, not 0.3, so a loaded CI machine is not
    # mistaken for a client that does not echo (the echo count below is the check).
    options = ChartOptions(heartbeat_interval=0.05, heartbeat_timeout=2.0, latency=0.02)
    with ChartServer(synthetic_history(DAYS), clock, options) as server:
        batch = fetch(server, fast, symbols(20), pool_size=2, connections=1)
        time.sleep(0.1)
    assert all(outcome.error is None for outcome in batch.outcomes.values())
    assert server.stats.connections == 1 and server.stats.heartbeats_sent >= 3
    assert set(server.stats.echoes.values()) == {1}


def test_strict_client_lengths_are_satisfied(clock, fast):
    options = ChartOptions(strict_lengths=True, require_browser_headers=True)
    with ChartServer(synthetic_history(DAYS), clock, options) as server:
        batch = fetch(server, fast, symbols(3))
    assert server.stats.client_anomalies == [] and server.stats.refused == 0
    assert all(outcome.error is None for outcome in batch.outcomes.values())


@pytest.mark.parametrize("mode", ["codepoints", "utf8_bytes", "double_encoded"])
def test_non_ascii_server_payloads_under_every_length_reading(clock, fast, mode):
    history = synthetic_history(DAYS)

    def accented(symbol, now):
        data = history(symbol, now)
        data.info["description"] = "Société Générale — NGÂN HÀNG"
        return data

    with ChartServer(accented, clock, ChartOptions(length_mode=mode)) as server:
        batch = fetch(server, fast, symbols(2))
    for name in symbols(2):
        assert len(complete(batch, name)) > 500


def test_a_redirect_hello_is_followed(clock, fast):
    with (
        ChartServer(synthetic_history(DAYS), clock) as target,
        ChartServer(synthetic_history(DAYS), clock, ChartOptions(redirect=None)) as first,
    ):
        first.options = ChartOptions(redirect=target.url)
        batch = fetch(first, fast, symbols(2), connections=1)
    assert target.stats.received["create_series"] == 2
    assert all(outcome.error is None for outcome in batch.outcomes.values())


def test_a_busy_handshake_is_retried_then_reported(clock, fast):
    with ChartServer(synthetic_history(DAYS), clock, ChartOptions(max_connections=1)) as server:
        batch = fetch(server, fast, symbols(4), connections=2, pool_size=2)
        assert server.stats.refused >= 1
        assert all(outcome.error is None for outcome in batch.outcomes.values())
    with ChartServer(synthetic_history(DAYS), clock, ChartOptions(max_connections=0)) as server:
        with pytest.raises(SourceError, match=r"handshake refused: HTTP 429.*\(4 tries\)"):
            fetch(server, fast, symbols(1))


def test_a_forbidden_handshake_fails_at_once(clock, fast):
    with ChartServer(synthetic_history(DAYS), clock) as server:
        url = server.url.replace("/socket.io/websocket", "/elsewhere")
        client = HistoryClient(fast(ws_url=url))
        with pytest.raises(SourceError, match="handshake refused: HTTP 404"):
            client.fetch([SeriesRequest("BINANCE:AUSDT", SINCE)])


def test_bars_without_volume_keep_nan_volume(clock, fast):
    with ChartServer(synthetic_history(DAYS, volume=False), clock) as server:
        batch = fetch(server, fast, ["TVC:SPX"])
    bars = batch.outcomes["TVC:SPX"].result.bars
    assert all(np.isnan(values[4]) for values in bars.values())


def test_a_refused_chart_session_hands_its_symbols_to_the_others(clock, fast):
    with ChartServer(synthetic_history(DAYS), clock, ChartOptions(max_chart_sessions=1)) as server:
        batch = fetch(server, fast, symbols(4), connections=1, pool_size=2, idle_timeout=0.5)
    assert all(o.error is None for o in batch.outcomes.values())


def test_when_every_chart_session_is_refused_each_symbol_says_why(clock, fast):
    with ChartServer(synthetic_history(DAYS), clock, ChartOptions(max_chart_sessions=0)) as server:
        batch = fetch(server, fast, symbols(3), connections=1, pool_size=2)
    assert {o.error for o in batch.outcomes.values()} == {
        "critical_error max sessions rate reached"
    }


@pytest.mark.slow
def test_300_symbols_of_600_days_sync_in_under_60s_at_50ms_latency(fast):
    clock_now = datetime(2025, 8, 24, 2, 0, tzinfo=UTC)  # 600 daily bars from 2024-01-01
    since = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    options = ChartOptions(latency=0.05, batching="packet", heartbeat_interval=1.0)
    with ChartServer(synthetic_history(DAYS), lambda: clock_now, options) as server:
        client = HistoryClient(
            fast(ws_url=server.url, pool_size=8, connections=2, idle_timeout=5.0)
        )
        started = time.perf_counter()
        batch = client.fetch([SeriesRequest(name, since) for name in symbols(300)])
        elapsed = time.perf_counter() - started
    bars = sum(len(o.result.bars) for o in batch.outcomes.values() if o.result)
    assert all(o.error is None for o in batch.outcomes.values())
    assert bars >= 300 * 600
    print(
        f"\n300 symbols x 600 bars at 50 ms per message: {elapsed:.1f}s, "
        f"{300 / elapsed:.1f} symbols/s, {server.stats.messages_sent} messages"
    )
    assert elapsed < 60
    first = min(min(o.result.bars) for o in batch.outcomes.values())
    assert datetime.fromtimestamp(first, UTC).date() == date(2024, 1, 1)
