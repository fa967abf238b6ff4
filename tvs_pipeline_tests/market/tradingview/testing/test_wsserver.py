"""The local websocket server base (testing/wsserver.py): port, URL, lifecycle, lifetime."""

from __future__ import annotations

import re
import time

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tvs_pipeline.market.tradingview.testing.wsserver import LocalWebSocketServer


class Echo(LocalWebSocketServer):
    """Answers every message with ``echo:<message>``."""

    async def _handle(self, ws) -> None:
        async for message in ws:
            await ws.send(f"echo:{message}")


def test_a_subclass_serves_on_a_free_local_port():
    with Echo(max_lifetime=30) as server:
        assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/socket\.io/websocket", server.url)
        with connect(server.url, open_timeout=5) as ws:
            ws.send("hello")
            assert ws.recv(timeout=5) == "echo:hello"
        with Echo(max_lifetime=30) as other:  # two servers, two ports
            assert other.url != server.url


def test_the_url_needs_a_started_server_and_stop_is_idempotent():
    server = Echo(max_lifetime=30)
    with pytest.raises(AssertionError, match="not started"):
        _ = server.url
    server.start()
    url = server.url
    server.stop()
    server.stop()
    with pytest.raises(OSError):
        connect(url, open_timeout=2)


def test_the_server_closes_itself_after_its_lifetime():
    with Echo(max_lifetime=0.2) as server:
        url = server.url
        time.sleep(0.5)
        with pytest.raises((OSError, InvalidStatus)):  # refused, or "shutting down" (503)
            connect(url, open_timeout=2)


def test_the_base_class_has_no_handler():
    with LocalWebSocketServer(max_lifetime=30) as server, connect(server.url) as ws:
        with pytest.raises(Exception):  # noqa: B017 - the server drops the connection
            ws.recv(timeout=5)
