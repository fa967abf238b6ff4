"""One client connection of the local chart server: its state and its outgoing side.

Packets are length-framed as ``ChartOptions.length_mode`` says, queued with the one-way
``latency``, batched into websocket messages as ``batching`` says, and heartbeats go out every
``heartbeat_interval`` with their echo checked.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection

from tvs_pipeline.market.tradingview.framing import PacketDecoder

if TYPE_CHECKING:
    from tvs_pipeline.market.tradingview.testing.chart_server import ChartServer

__all__ = ["ChartSocket"]


class ChartSocket:
    """State and outgoing queue of one client connection."""

    def __init__(self, server: ChartServer, ws: ServerConnection) -> None:
        self.server, self.ws = server, ws
        self.outbox: asyncio.Queue[tuple[float, str | None]] = asyncio.Queue()
        self.authed = False
        self.silent = False
        self.sessions: dict[str, dict[str, Any]] = {}
        self.pending_echo: dict[str, float] = {}
        self.decoder = PacketDecoder()

    def encode(self, obj: Any) -> str:
        """``obj`` as one framed packet (``~m~<length>~m~<json>``), as ``length_mode`` says."""
        mode = self.server.options.length_mode
        payload = json.dumps(obj, ensure_ascii=mode == "ascii", separators=(",", ":"))
        if mode == "double_encoded":
            payload = payload.encode("utf-8").decode("latin-1")
        length = len(payload.encode("utf-8")) if mode == "utf8_bytes" else len(payload)
        return f"~m~{length}~m~{payload}"

    def packet(self, method: str, params: list[Any], stamp: bool = True) -> str:
        """A framed packet ``{m, p}``, stamped with the simulated now unless ``stamp`` is False."""
        body: dict[str, Any] = {"m": method, "p": params}
        if stamp:
            now = self.server.now().timestamp()
            body |= {"t": int(now), "t_ms": int(now * 1000)}
        return self.encode(body)

    def send(self, frames: list[str]) -> None:
        """Queue packets; ``batching`` decides how many websocket messages they become."""
        due = time.monotonic() + self.server.options.latency
        if self.server.options.batching == "packet":
            for one in frames:
                self.outbox.put_nowait((due, one))
        elif frames:
            self.outbox.put_nowait((due, "".join(frames)))

    def send_raw(self, *messages: str | None) -> None:
        """Queue websocket messages as given (None: drop the socket at that point)."""
        due = time.monotonic() + self.server.options.latency
        for message in messages:
            self.outbox.put_nowait((due, message))

    async def pump(self) -> None:
        """Send queued messages when due, in order; a None drops the socket."""
        while True:
            due, message = await self.outbox.get()
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if message is None:
                self.ws.transport.abort()  # no close frame: the client sees 1006
                return
            await self.ws.send(message)
            self.server.stats.messages_sent += 1

    async def heartbeat(self) -> None:
        """Send heartbeats; close the socket when an echo is later than ``heartbeat_timeout``."""
        options, n = self.server.options, 0
        while True:
            await asyncio.sleep(options.heartbeat_interval)
            n += 1
            text = f"~h~{n}"
            self.pending_echo[text] = time.monotonic()
            self.server.stats.heartbeats_sent += 1
            self.send_raw(f"~m~{len(text)}~m~{text}")
            if options.heartbeat_timeout is not None:
                late = [
                    t
                    for t, at in self.pending_echo.items()
                    if time.monotonic() - at > options.heartbeat_timeout + options.latency
                ]
                if late:
                    await self.ws.close(1000, "heartbeat timeout")
                    return
