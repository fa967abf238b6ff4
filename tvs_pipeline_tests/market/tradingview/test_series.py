"""One symbol's series on a chart session, driven by scripted packets (no socket, no server)."""

from __future__ import annotations

import asyncio
import math

import pytest

from tvs_pipeline.market.tradingview.connection import Closed, ConnectionLost
from tvs_pipeline.market.tradingview.series import (
    DAY_SECONDS,
    SeriesFailed,
    SeriesRequest,
    SeriesResult,
    bars_needed,
    fetch_series,
)

SESSION, NUMBER = "cs_test", 3
SERIES, REF, TURN = "sds_3", "sds_sym_3", "s3"
NOW = 1_750_000_000.0
DAY = float(DAY_SECONDS)


class ScriptedConnection:
    """Answers each ``send`` with the next scripted packets; records every message sent."""

    def __init__(
        self, queue: asyncio.Queue, answers: list[list[object]], heartbeats: int = 0
    ) -> None:
        self.queue, self.answers, self.sent, self.data_packets = queue, list(answers), [], 0
        self.heartbeats = heartbeats

    def now(self) -> float:
        return NOW

    async def send(self, messages):
        self.sent.extend(messages)
        if self.answers:
            for packet in self.answers.pop(0):
                self.queue.put_nowait(packet)


def run(answers, since, idle_timeout=1.0, result=None, heartbeats=0):
    async def go():
        queue: asyncio.Queue = asyncio.Queue()
        connection = ScriptedConnection(queue, answers, heartbeats)
        request = SeriesRequest("NASDAQ:AAA", since)
        out = await fetch_series(connection, queue, SESSION, NUMBER, request, idle_timeout, result)
        return out, connection.sent

    return asyncio.run(go())


def bar(t, close, volume=True):
    values = [t, close - 1, close + 1, close - 2, close]
    return {"i": 0, "v": [*values, 1000.0] if volume else values}


def update(*bars, close_time=None):
    body = {"s": list(bars), "t": TURN}
    if close_time is not None:
        body["lbs"] = {"bar_close_time": close_time}
    return {"m": "timescale_update", "p": [SESSION, {SERIES: body}]}


def completed(marker=None):
    extra = {"data_completed": marker} if marker else {}
    return {"m": "series_completed", "p": [SESSION, SERIES, "streaming", TURN, extra]}


RESOLVED = {"m": "symbol_resolved", "p": [SESSION, REF, {"pro_name": "NASDAQ:AAA"}]}


@pytest.mark.parametrize(
    ("since", "now", "expected"),
    [(NOW - 10 * DAY, NOW, 12), (NOW - 0.5 * DAY, NOW, 3), (NOW, NOW, 2), (NOW + DAY, NOW, 2)],
    ids=["ten-days", "half-a-day", "now", "future"],
)
def test_bars_needed_counts_calendar_days_plus_the_forming_bar(since, now, expected):
    assert bars_needed(since, now) == expected


def test_one_chunk_that_reaches_back_far_enough():
    since = NOW - 3 * DAY
    answers = [
        [RESOLVED, update(bar(since - DAY, 10.0), bar(since, 11.0, volume=False)), completed()]
    ]
    result, sent = run(answers, since)
    assert result.done == "depth reached" and result.pages == 0
    assert result.info == {"pro_name": "NASDAQ:AAA"}
    assert result.bars[since - DAY] == [9.0, 11.0, 8.0, 10.0, 1000.0]
    assert math.isnan(result.bars[since][4])  # no volume field: NaN
    methods = [m for m, _ in sent]
    assert methods == ["resolve_symbol", "create_series", "remove_series"]
    create = dict(sent)["create_series"]
    assert create == [SESSION, SERIES, TURN, REF, "1D", 5, ""]  # 3 days + 2
    assert '"symbol":"NASDAQ:AAA"' in dict(sent)["resolve_symbol"][2]


def test_pages_back_until_the_window_is_covered_and_merges_by_time():
    since = NOW - 10 * DAY
    first = [update(bar(NOW - 2 * DAY, 12.0), bar(NOW - DAY, 13.0)), completed()]
    # the next chunk repeats NOW - 2 days (merged, not duplicated) and reaches since
    older = [update(bar(since, 5.0), bar(NOW - 2 * DAY, 12.5)), completed()]
    result, sent = run([first, older], since)
    assert result.done == "depth reached" and result.pages == 1
    assert sorted(result.bars) == [since, NOW - 2 * DAY, NOW - DAY]
    assert result.bars[NOW - 2 * DAY][3] == 12.5  # the later packet wins
    more = [params for method, params in sent if method == "request_more_data"]
    assert more == [[SESSION, SERIES, 9]]  # 8 days back to since, + 2, less the bar it has


@pytest.mark.parametrize(
    ("second", "done"),
    [
        ([update(), completed()], "no older bars"),
        ([update(bar(NOW - DAY, 10.0)), completed()], "no older bars"),
        ([update(bar(NOW - 3 * DAY, 9.0)), completed("end")], "history end"),
        ([update(bar(NOW - 3 * DAY, 9.0)), completed("limit")], "history limit"),
    ],
    ids=["chunk-adds-nothing", "chunk-repeats-a-bar", "service-end", "service-limit"],
)
def test_paging_stops_when_the_service_has_no_more(second, done):
    since = NOW - 100 * DAY
    first = [update(bar(NOW - DAY, 10.0)), completed()]
    result, _ = run([first, second], since)
    assert result.done == done and result.pages == 1


def test_no_bar_at_all_and_malformed_bars_are_counted():
    broken = {"i": 0, "v": [NOW, "x", 1, 1, 1]}
    result, _ = run([[update(broken, {"i": 1}, close_time=NOW + DAY), completed()]], NOW - DAY)
    assert result.done == "the service has no bar for it"
    assert result.malformed_bars == 2 and result.bars == {}
    assert result.bar_close_time == NOW + DAY


def test_packets_for_other_series_are_ignored():
    since = NOW - DAY
    other = {"m": "timescale_update", "p": [SESSION, {"sds_9": {"s": [bar(since, 99.0)]}}]}
    other_done = {"m": "series_completed", "p": [SESSION, "sds_9", "streaming", "s9", {}]}
    answers = [[other, other_done, update(bar(since, 10.0)), completed()]]
    result, _ = run(answers, since)
    assert result.bars[since][3] == 10.0 and result.done == "depth reached"


def test_a_resumed_request_keeps_the_bars_of_the_earlier_try():
    since = NOW - 2 * DAY
    earlier = SeriesResult(bars={since: [1.0, 2.0, 0.5, 1.5, 10.0]})
    result, _ = run([[update(bar(NOW - DAY, 10.0)), completed()]], since, result=earlier)
    assert result is earlier and sorted(result.bars) == [since, NOW - DAY]


@pytest.mark.parametrize(
    ("packet", "message", "broken"),
    [
        (
            {"m": "symbol_error", "p": [SESSION, REF, "invalid symbol"]},
            r"symbol_error: invalid symbol \(NASDAQ:AAA\)",
            False,
        ),
        (
            {"m": "series_error", "p": [SESSION, SERIES, TURN, "no such resolution"]},
            "series_error: no such resolution",
            False,
        ),
        (
            {"m": "critical_error", "p": [SESSION, "bad session", "create_series"]},
            "critical_error bad session: create_series",
            True,
        ),
    ],
    ids=["symbol", "series", "critical"],
)
def test_service_errors_fail_the_series(packet, message, broken):
    with pytest.raises(SeriesFailed, match=message) as caught:
        run([[packet]], NOW - DAY)
    assert caught.value.session_broken is broken


@pytest.mark.parametrize(
    ("answers", "heartbeats", "said", "silent"),
    [
        ([[]], 3, "only 3 heartbeats on the connection: the auth token may have expired", True),
        ([[]], 0, "nothing at all on the connection, not even a heartbeat", True),
        ([[RESOLVED]], 2, "1 packets for this series, 0 data packets on the connection", False),
    ],
    ids=["heartbeats-only", "nothing", "resolved-then-silence"],
)
def test_silence_fails_and_says_what_was_seen(answers, heartbeats, said, silent):
    with pytest.raises(SeriesFailed) as caught:
        run(answers, NOW - DAY, idle_timeout=0.05, heartbeats=heartbeats)
    assert str(caught.value) == f"no answer within 0.05s after create_series ({said})"
    assert caught.value.silent is silent


def test_a_resumed_request_pages_past_the_bars_it_already_holds():
    # Held from a first try cut while paging: days -5..-1. The retry's first chunk (-2..-1)
    # and first page (-4..-3) only overlap them; the second page (-6..-5) reaches below the
    # held oldest. Overlap is not "no older bars": the request pages on to since = -6 days.
    held = SeriesResult(bars={NOW - k * DAY: [1.0, 2.0, 0.5, 1.5, 9.0] for k in range(1, 6)})
    answers = [
        [update(bar(NOW - 2 * DAY, 10), bar(NOW - DAY, 11)), completed()],
        [update(bar(NOW - 4 * DAY, 12), bar(NOW - 3 * DAY, 13)), completed()],
        [update(bar(NOW - 6 * DAY, 14), bar(NOW - 5 * DAY, 15)), completed()],
    ]
    result, sent = run(answers, NOW - 6 * DAY, result=held)
    assert sorted(result.bars) == [NOW - k * DAY for k in range(6, 0, -1)]
    assert result.done == "depth reached" and result.pages == 2
    assert [m for m, _ in sent].count("request_more_data") == 2


def test_a_page_that_reaches_no_older_bar_ends_the_request():
    answers = [
        [update(bar(NOW - 2 * DAY, 10), bar(NOW - DAY, 11)), completed()],
        [update(bar(NOW - 2 * DAY, 10)), completed()],
    ]
    result, _ = run(answers, NOW - 9 * DAY)
    assert result.done == "no older bars" and sorted(result.bars) == [NOW - 2 * DAY, NOW - DAY]


def test_a_closed_connection_is_connection_lost():
    with pytest.raises(ConnectionLost, match="reset by peer"):
        run([[RESOLVED, Closed("reset by peer")]], NOW - DAY)
