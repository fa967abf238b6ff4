"""One chart-server connection's framing (testing/chart_socket.py), in each length mode."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from tvs_pipeline.market.tradingview.testing.chart_options import ChartOptions
from tvs_pipeline.market.tradingview.testing.chart_socket import ChartSocket

NOW = datetime(2025, 9, 2, 2, 0, 30, 250000, tzinfo=UTC)


def socket_with(**options) -> ChartSocket:
    server = SimpleNamespace(options=ChartOptions(**options), now=lambda: NOW, stats=None)
    return ChartSocket(server, ws=None)


# {"m":"x","p":["é"]} is 19 code points; é is 2 UTF-8 bytes (20); escaped as \u00e9 it is 6
# characters (24); read back as Latin-1 the UTF-8 bytes are 2 code points "Ã©" (20).
@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("ascii", '~m~24~m~{"m":"x","p":["\\u00e9"]}'),
        ("codepoints", '~m~19~m~{"m":"x","p":["é"]}'),
        ("utf8_bytes", '~m~20~m~{"m":"x","p":["é"]}'),
        ("double_encoded", '~m~20~m~{"m":"x","p":["Ã©"]}'),
    ],
    ids=["ascii", "codepoints", "utf8-bytes", "double-encoded"],
)
def test_lengths_are_counted_as_the_mode_says(mode, expected):
    assert socket_with(length_mode=mode).encode({"m": "x", "p": ["é"]}) == expected


def test_packets_carry_the_simulated_time_unless_told_not_to():
    sock = socket_with()
    stamped = sock.packet("du", [1])  # NOW is 1756778430.25 s after the Unix epoch
    assert stamped == '~m~54~m~{"m":"du","p":[1],"t":1756778430,"t_ms":1756778430250}'
    assert sock.packet("protocol_error", ["x"], stamp=False).endswith('"p":["x"]}')


def test_batching_decides_how_many_messages_packets_become():
    per_reply, per_packet = socket_with(batching="reply"), socket_with(batching="packet")
    for sock in (per_reply, per_packet):
        sock.send(["~m~1~m~a", "~m~1~m~b"])
    assert per_reply.outbox.qsize() == 1 and per_packet.outbox.qsize() == 2
    assert per_reply.outbox.get_nowait()[1] == "~m~1~m~a~m~1~m~b"
    per_reply.send([])  # nothing to send: no message
    assert per_reply.outbox.empty()
