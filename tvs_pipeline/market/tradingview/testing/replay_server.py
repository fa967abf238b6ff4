"""A websocket server that replays recorded frame sequences, message for message.

A sequence file holds one websocket message per line, exactly as it goes on the wire (several
packets on one line are one batched message; a packet cut across two lines is a split frame).
Directives start with ``@``:

- ``@connection`` starts the script of the next connection (a reconnect gets the next one; the
  last one repeats);
- ``@on <method>`` sends the lines that follow after the client sends a packet ``<method>``
  (blocks fire in order, once each); lines before the first ``@on`` go out on connect;
- ``@drop`` aborts the socket without a close frame (code 1006 for the client);
- ``@close`` closes it normally; ``@sleep <seconds>`` pauses.

Lines starting with ``#`` are comments. Every packet the client sends is recorded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tvs_pipeline.market.tradingview.framing import Heartbeat, PacketDecoder
from tvs_pipeline.market.tradingview.testing.wsserver import LocalWebSocketServer

__all__ = ["ReplayServer", "Script", "load_script"]


@dataclass
class Script:
    """One connection's script: what goes out on connect, then one block per trigger."""

    on_connect: list[str] = field(default_factory=list)
    blocks: list[tuple[str, list[str]]] = field(default_factory=list)


def load_script(path: str | Path) -> list[Script]:
    """Parse a sequence file into one ``Script`` per connection."""
    scripts = [Script()]
    current = scripts[0].on_connect
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.rstrip("\r")
        if not line or line.startswith("#"):
            continue
        if line == "@connection":
            if scripts[-1].on_connect or scripts[-1].blocks:
                scripts.append(Script())
            current = scripts[-1].on_connect
        elif line.startswith("@on "):
            block: list[str] = []
            scripts[-1].blocks.append((line[4:].strip(), block))
            current = block
        else:
            current.append(line)
    return scripts


class ReplayServer(LocalWebSocketServer):
    """Replays a sequence file to each connection on ``127.0.0.1:<free port>``.

    Attributes
    ----------
    received : list of list
        Per connection, every packet the client sent (dicts, or ``Heartbeat``).
    """

    def __init__(self, path: str | Path, max_lifetime: float = 120.0) -> None:
        super().__init__(max_lifetime)
        self.scripts = load_script(path)
        self.received: list[list[object]] = []

    def packets(self, method: str) -> list[dict]:
        """Every packet ``method`` the client sent, over all connections."""
        return [
            p
            for conn in self.received
            for p in conn
            if isinstance(p, dict) and p.get("m") == method
        ]

    def heartbeat_echoes(self) -> list[str]:
        """Every heartbeat the client echoed, in order."""
        return [p.text for conn in self.received for p in conn if isinstance(p, Heartbeat)]

    async def _play(self, ws: ServerConnection, lines: list[str]) -> bool:
        """Send lines and run directives; False once the socket is gone."""
        for line in lines:
            if line == "@drop":
                ws.transport.abort()
                return False
            if line == "@close":
                await ws.close()
                return False
            if line.startswith("@sleep "):
                await asyncio.sleep(float(line.split()[1]))
                continue
            await ws.send(line)
        return True

    async def _handle(self, ws: ServerConnection) -> None:
        index = len(self.received)
        script = self.scripts[min(index, len(self.scripts) - 1)]
        log: list[object] = []
        self.received.append(log)
        blocks = list(script.blocks)
        decoder = PacketDecoder()
        try:
            if not await self._play(ws, script.on_connect):
                return
            async for message in ws:
                for packet in decoder.feed(str(message)):
                    log.append(packet)
                    method = packet.get("m") if isinstance(packet, dict) else None
                    for k, (trigger, lines) in enumerate(blocks):
                        if trigger == method:
                            del blocks[k]
                            if not await self._play(ws, lines):
                                return
                            break
        except ConnectionClosed:
            return
