"""One websocket to the TradingView chart service: handshake, hello, auth, heartbeats, routing."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from tvs_pipeline.market.tradingview.framing import (
    Heartbeat,
    PacketDecoder,
    encode_packets,
    frame,
)

__all__ = [
    "BROWSER_HEADERS",
    "ChartConnection",
    "ConnectionLost",
    "FatalSourceFault",
    "HandshakeRefused",
    "Unreachable",
]

LOG = logging.getLogger(__name__)
ORIGIN = "https://www.tradingview.com"
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
# The 2025 WAF wants a browser-like upgrade request.
BROWSER_HEADERS = {
    "Accept-Language": "en-US,en;q=0.9",
    "Cache-Control": "no-cache",
    "Pragma": "no-cache",
}
MAX_MESSAGE = 64 * 1024 * 1024  # one 20k-bar update is ~2 MB; websockets' default is 1 MiB
MAX_REDIRECTS = 5
HELLO_WAIT = 2.0


class ConnectionLost(Exception):
    """The socket closed or failed while a request was in flight (retry on a new socket)."""


class HandshakeRefused(Exception):
    """The upgrade request was answered with an HTTP status instead of a websocket."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {' '.join(body.split())[:200]}")
        self.status = status


class FatalSourceFault(Exception):
    """The service refused the whole session (``protocol_error``, e.g. a bad auth token)."""


class Unreachable(FatalSourceFault):
    """No retry can reach the service (name, refusal, handshake refused for good, deadline)."""


class Closed:
    """Queue sentinel: the connection is gone; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _redirected(url: str, target: str) -> str:
    """The URL a ``redirect`` hello points at: a full URL, or a host replacing ours."""
    if "://" in target:
        return target
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, target, parts.path, parts.query, parts.fragment))


class ChartConnection:
    """A websocket to the chart service, shared by the chart sessions created on it.

    Heartbeats are echoed once each, as received; every other packet is routed to the queue of
    the chart session named by its first parameter. ``protocol_error`` closes the connection and
    is fatal (the service answers it to a bad auth token).

    Parameters
    ----------
    url : str
        ``wss://.../socket.io/websocket``.
    token : str
        Auth token (``unauthorized_user_token`` for anonymous access).
    open_timeout : float
        Seconds for the TCP and websocket handshake.
    """

    def __init__(self, url: str, token: str, open_timeout: float = 10.0) -> None:
        self.url = url
        self.token = token
        self.open_timeout = open_timeout
        self.hello: dict[str, Any] = {}
        self.server_now: float | None = None  # epoch seconds, from the hello and message stamps
        self.data_packets = 0  # packets other than heartbeats and the hello
        self.heartbeats = 0
        self.sent: dict[str, int] = {}
        self.closed: str | None = None
        self.fatal: str | None = None
        self._ws: ClientConnection | None = None
        self._decoder = PacketDecoder()
        self._queues: dict[str, asyncio.Queue[Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._hello_seen = asyncio.Event()

    @property
    def anomalies(self) -> list[str]:
        """Packets the decoder repaired or dropped on this connection."""
        return self._decoder.anomalies

    @property
    def is_open(self) -> bool:
        """True while the reader runs and nothing fatal happened."""
        return self.closed is None and self._reader is not None and not self._reader.done()

    async def open(self) -> None:
        """Connect (following ``redirect`` hellos), authenticate, and start reading.

        Raises
        ------
        HandshakeRefused
            The upgrade was answered with an HTTP status (403, 429, ...).
        OSError, TimeoutError
            The host cannot be reached in time.
        """
        for _ in range(MAX_REDIRECTS + 1):
            await self._connect()
            await self.send([("set_auth_token", [self.token]), ("set_locale", ["en", "US"])])
            try:
                await asyncio.wait_for(self._hello_seen.wait(), HELLO_WAIT)
            except TimeoutError:
                LOG.warning("chart socket %s: no hello within %ss", self.url, HELLO_WAIT)
                return
            target = self.hello.get("redirect")
            if not target:
                return
            LOG.info("chart socket %s: redirected to %s", self.url, target)
            await self.close()
            self.url = _redirected(self.url, str(target))
            self.closed, self.hello, self._hello_seen = None, {}, asyncio.Event()
            self._decoder = PacketDecoder()
        raise ConnectionLost(f"more than {MAX_REDIRECTS} redirects")

    async def _connect(self) -> None:
        try:
            self._ws = await connect(
                self.url,
                origin=ORIGIN,  # type: ignore[arg-type]
                user_agent_header=USER_AGENT,
                additional_headers=BROWSER_HEADERS,
                max_size=MAX_MESSAGE,
                open_timeout=self.open_timeout,
                ping_interval=None,  # the service has its own heartbeat
                close_timeout=1.0,
            )
        except InvalidStatus as err:
            body = err.response.body.decode("utf-8", "replace") if err.response.body else ""
            raise HandshakeRefused(err.response.status_code, body) from err
        except WebSocketException as err:
            raise ConnectionLost(f"handshake failed: {err}") from err
        self._reader = asyncio.create_task(self._read())

    def subscribe(self, session: str) -> asyncio.Queue[Any]:
        """The queue receiving every packet of chart session ``session``."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        if self.closed is not None:
            queue.put_nowait(Closed(self.closed))
        self._queues[session] = queue
        return queue

    def unsubscribe(self, session: str) -> None:
        """Stop routing packets of ``session``."""
        self._queues.pop(session, None)

    async def send(self, messages: list[tuple[str, list[Any]]]) -> None:
        """Send packets as one websocket message.

        Raises
        ------
        ConnectionLost
            The socket is closed.
        """
        if self._ws is None or self.closed is not None:
            raise ConnectionLost(self.closed or "not connected")
        for method, _ in messages:
            self.sent[method] = self.sent.get(method, 0) + 1
        try:
            await self._ws.send(encode_packets(messages))
        except ConnectionClosed as err:
            self._close_queues(f"socket closed while sending ({err.rcvd or err})")
            raise ConnectionLost(self.closed or "closed") from err

    async def close(self) -> None:
        """Close the socket and stop the reader."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 2.0)
            except (TimeoutError, asyncio.CancelledError):
                self._reader.cancel()
        self._close_queues(self.closed or "closed by client")

    async def _read(self) -> None:
        assert self._ws is not None
        reason = "closed by server"
        try:
            async for message in self._ws:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                for packet in self._decoder.feed(text):
                    await self._dispatch(packet)
                if self.fatal:
                    reason = self.fatal
                    await self._ws.close()
                    break
        except ConnectionClosed as err:
            reason = f"socket dropped (code {err.rcvd.code if err.rcvd else 'none'})"
        except OSError as err:
            reason = f"socket error: {err}"
        finally:
            self._hello_seen.set()
            self._close_queues(self.fatal or reason)

    async def _dispatch(self, packet: Any) -> None:
        if isinstance(packet, Heartbeat):
            self.heartbeats += 1
            assert self._ws is not None
            try:
                await self._ws.send(frame(packet.text))
            except ConnectionClosed:
                return
            return
        method = packet.get("m")
        if method is None:
            self.hello = packet
            stamp = packet.get("timestamp")
            if isinstance(stamp, int | float):
                self._saw_time(float(stamp))
            self._hello_seen.set()
            return
        self.data_packets += 1
        stamp = packet.get("t")
        if isinstance(stamp, int | float):
            self._saw_time(float(stamp))
        params = packet.get("p") or []
        if method == "protocol_error":
            self.fatal = f"protocol_error {params[0] if params else ''!s}".strip()
            return
        target = params[0] if params and isinstance(params[0], str) else None
        queue = self._queues.get(target) if target else None
        if queue is not None:
            queue.put_nowait(packet)

    def _saw_time(self, stamp: float) -> None:
        self.server_now = max(self.server_now or 0.0, stamp)

    def _close_queues(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
        for queue in self._queues.values():
            queue.put_nowait(Closed(self.closed))

    def now(self) -> float:
        """The service's clock when known (hello, message stamps), else ours."""
        return self.server_now if self.server_now is not None else time.time()
