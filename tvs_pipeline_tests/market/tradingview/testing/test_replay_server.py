"""The replay server (testing/replay_server.py): sequence files and their replay on the wire."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tvs_pipeline.market.tradingview.testing.replay_server import ReplayServer, Script, load_script

SEQUENCE = """\
# a comment, then what goes out on connect
~m~5~m~hello
@on set_auth_token
~m~4~m~auth
~m~1~m~a~m~1~m~b
@on create_series
@close
@connection
@on resolve_symbol
@drop
"""


def test_a_sequence_file_becomes_one_script_per_connection(tmp_path):
    path = tmp_path / "seq.frames"
    path.write_text(SEQUENCE, encoding="utf-8")
    assert load_script(path) == [
        Script(
            on_connect=["~m~5~m~hello"],
            blocks=[
                ("set_auth_token", ["~m~4~m~auth", "~m~1~m~a~m~1~m~b"]),
                ("create_series", ["@close"]),
            ],
        ),
        Script(on_connect=[], blocks=[("resolve_symbol", ["@drop"])]),
    ]


def test_a_leading_connection_directive_opens_no_empty_script(tmp_path):
    path = tmp_path / "seq.frames"
    path.write_text("@connection\n~m~2~m~hi\n", encoding="utf-8")
    assert load_script(path) == [Script(on_connect=["~m~2~m~hi"])]


def test_the_replay_answers_each_trigger_once_and_records_what_the_client_sent(tmp_path):
    path = tmp_path / "seq.frames"
    path.write_text(SEQUENCE, encoding="utf-8")
    with ReplayServer(path) as server:
        with connect(server.url, open_timeout=5) as ws:
            assert ws.recv(timeout=5) == "~m~5~m~hello"
            ws.send('~m~29~m~{"m":"set_auth_token","p":[]}')
            assert ws.recv(timeout=5) == "~m~4~m~auth"
            assert ws.recv(timeout=5) == "~m~1~m~a~m~1~m~b"  # one batched message
            ws.send("~m~4~m~~h~1")  # a heartbeat echo
            ws.send('~m~28~m~{"m":"create_series","p":[]}')
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
        with connect(server.url, open_timeout=5) as second:  # the second connection's script
            second.send('~m~29~m~{"m":"resolve_symbol","p":[1]}')
            with pytest.raises(ConnectionClosed) as dropped:
                second.recv(timeout=5)
            assert dropped.value.rcvd is None  # dropped: no close frame
    assert [p["m"] for p in server.packets("set_auth_token")] == ["set_auth_token"]
    assert server.heartbeat_echoes() == ["~h~1"]
    assert len(server.received) == 2
