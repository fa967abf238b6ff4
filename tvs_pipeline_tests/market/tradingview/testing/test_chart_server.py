"""The local chart server (testing/chart_server.py) spoken to by a raw websocket client.

The client below frames and parses packets by hand (``~m~<length>~m~<json>``), so these tests
do not lean on the project's own framing code.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tvs_pipeline.market.tradingview.testing import (
    ChartOptions,
    ChartServer,
    SimulatedClock,
    synthetic_history,
)

NOW = datetime(2024, 1, 11, 12, 0, tzinfo=UTC)  # ten daily bars from 2024-01-01 have opened
FRAME = re.compile(r"~m~(\d+)~m~")


def framed(method, params):
    payload = json.dumps({"m": method, "p": params})  # ASCII: length = characters
    return f"~m~{len(payload)}~m~{payload}"


def packets(message):
    out, pos = [], 0
    while (found := FRAME.match(message, pos)) is not None:
        start = found.end()
        end = start + int(found.group(1))
        out.append(json.loads(message[start:end]))
        pos = end
    return out


def receive_until(ws, method):
    seen = []
    while True:
        for packet in packets(ws.recv(timeout=5)):
            seen.append(packet)
            if packet.get("m") == method:
                return seen


@pytest.fixture
def server():
    history = synthetic_history(30, date(2024, 1, 1))
    with ChartServer(history, SimulatedClock(NOW), ChartOptions(max_bars_per_request=4)) as srv:
        yield srv


def test_a_series_is_served_newest_first_and_pages_back(server):
    key = "=" + json.dumps({"symbol": "BINANCE:AAAUSDT"})
    with connect(server.url, open_timeout=5) as ws:
        hello = packets(ws.recv(timeout=5))[0]
        assert hello["timestamp"] == int(NOW.timestamp()) and "session_id" in hello
        ws.send(framed("set_auth_token", ["unauthorized_user_token"]))
        ws.send(framed("chart_create_session", ["cs_1", ""]))
        ws.send(framed("resolve_symbol", ["cs_1", "sds_sym_1", key]))
        ws.send(framed("create_series", ["cs_1", "sds_1", "s1", "sds_sym_1", "1D", 300, ""]))
        first = receive_until(ws, "series_completed")
        methods = [p["m"] for p in first]
        assert methods.index("symbol_resolved") < methods.index("timescale_update")
        update = next(p for p in first if p["m"] == "timescale_update")
        bars = update["p"][1]["sds_1"]["s"]
        day = 86_400
        origin = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
        # 11 bars have opened (Jan 1..11); 4 per answer: the newest, Jan 8..11
        assert [b["v"][0] for b in bars] == [origin + k * day for k in range(7, 11)]
        assert first[-1]["p"][4] == {"rt_update_period": 5}  # more history exists
        ws.send(framed("request_more_data", ["cs_1", "sds_1", 10]))
        older = receive_until(ws, "series_completed")
        more = next(p for p in older if p["m"] == "timescale_update")["p"][1]["sds_1"]["s"]
        assert [b["v"][0] for b in more] == [origin + k * day for k in range(3, 7)]
        ws.send(framed("request_more_data", ["cs_1", "sds_1", 10]))
        last = receive_until(ws, "series_completed")
        assert last[-1]["p"][4]["data_completed"] == "end"  # Jan 1..3 were the last ones
    assert server.stats.series == [("BINANCE:AAAUSDT", 300)]
    assert server.stats.more_counts == [10, 10] and server.stats.bars_sent == 11


def test_an_unknown_symbol_gets_symbol_and_series_errors(server):
    key = "=" + json.dumps({"symbol": "BINANCE:NOPEUSDT"})
    with connect(server.url, open_timeout=5) as ws:
        ws.recv(timeout=5)
        ws.send(framed("set_auth_token", ["t"]))
        ws.send(framed("chart_create_session", ["cs_1", ""]))
        ws.send(framed("resolve_symbol", ["cs_1", "sds_sym_1", key]))
        ws.send(framed("create_series", ["cs_1", "sds_1", "s1", "sds_sym_1", "1D", 10, ""]))
        seen = receive_until(ws, "series_error")
    errors = {p["m"]: p["p"] for p in seen}
    assert errors["symbol_error"][2] == "invalid symbol"
    assert errors["series_error"][3] == "resolve error"


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (framed("set_auth_token", ["bad-token"]), "bad auth token"),
        (framed("chart_create_session", ["cs_1", ""]), "auth required"),
    ],
    ids=["bad-token", "no-auth-first"],
)
def test_auth_failures_are_protocol_errors_then_a_dropped_socket(server, first, reason):
    with connect(server.url, open_timeout=5) as ws:
        ws.recv(timeout=5)
        ws.send(first)
        seen = receive_until(ws, "protocol_error")
        assert seen[-1]["p"] == [reason]
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)


def test_upgrades_are_refused_on_a_wrong_path_or_without_browser_headers():
    history = synthetic_history(5)
    options = ChartOptions(require_browser_headers=True)
    with ChartServer(history, SimulatedClock(NOW), options) as srv:
        with pytest.raises(InvalidStatus, match="404"):
            connect(srv.url.replace("/socket.io/websocket", "/other"), open_timeout=5)
        with pytest.raises(InvalidStatus, match="403"):
            connect(srv.url, open_timeout=5)
        headers = {"Origin": "https://www.tradingview.com"}
        with connect(
            srv.url, open_timeout=5, additional_headers=headers, user_agent_header="Mozilla/5.0"
        ) as ws:
            assert "session_id" in packets(ws.recv(timeout=5))[0]
    assert srv.stats.refused == 1 and srv.stats.connections == 1
