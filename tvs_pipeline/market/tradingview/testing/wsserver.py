"""A websocket server on ``127.0.0.1:<free port>``, served from a background loop."""

from __future__ import annotations

from typing import Any, Self

from websockets.asyncio.server import Server, ServerConnection, serve

from tvs_pipeline.market.tradingview.testing.background import BackgroundLoop

__all__ = ["LocalWebSocketServer"]


class LocalWebSocketServer:
    """Start, stop and context management for a local websocket server; stops itself.

    Subclasses answer each connection in ``_handle`` and may add ``serve`` keyword arguments
    in ``_serve_options``.

    Parameters
    ----------
    max_lifetime : float
        Seconds after which the server closes itself.
    """

    def __init__(self, max_lifetime: float) -> None:
        self.max_lifetime = max_lifetime
        self._loop: BackgroundLoop | None = None
        self._server: Server | None = None

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>/socket.io/websocket``: set ``TVS_TV_WS_URL`` to it."""
        assert self._server is not None, "server not started"
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/socket.io/websocket"

    def start(self) -> Self:
        """Bind a free port and serve on a background loop."""
        self._loop = BackgroundLoop()
        self._server = self._loop.run(self._serve())
        self._loop.loop.call_later(self.max_lifetime, self._server.close)
        return self

    async def _serve(self) -> Server:
        return await serve(
            self._handle, "127.0.0.1", 0, ping_interval=None, **self._serve_options()
        )

    def _serve_options(self) -> dict[str, Any]:
        """Further keyword arguments of ``websockets.asyncio.server.serve``."""
        return {}

    async def _handle(self, ws: ServerConnection) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Close every socket and the port, and end the thread (idempotent)."""
        if self._loop is not None and self._server is not None:
            server = self._server

            async def close() -> None:
                server.close()
                await server.wait_closed()

            try:
                self._loop.run(close(), timeout=10)
            finally:
                self._loop.stop()
        self._server, self._loop = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
