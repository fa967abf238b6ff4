"""A local stand-in for the TradingView chart websocket, generating the protocol from a market.

It speaks §1 of the protocol reference: the hello, heartbeats whose echo it checks,
``set_auth_token`` (bad tokens get ``protocol_error`` and a close, expired ones only
heartbeats), chart sessions, ``resolve_symbol``, ``create_series`` with a bar count,
``request_more_data`` paging with the ``data_completed`` marker, ``remove_series``, and the
error packets. Every message leaves after ``latency`` seconds without holding back the next one
(a one-way delay, not a bottleneck). Each unverified behaviour is a ``ChartOptions`` field;
per-symbol faults inject a mid-series disconnect, a disconnect while paging back, a malformed
frame, a lying length, a split frame, unframed junk after a packet, silence, or an error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tvs_pipeline.market.tradingview.framing import Heartbeat
from tvs_pipeline.market.tradingview.testing.chart_options import (
    PAGING_FAULT_PAGE,
    PAGING_FAULTS,
    RESOLUTIONS,
    ChartOptions,
    ChartStats,
    SeriesData,
)
from tvs_pipeline.market.tradingview.testing.chart_socket import ChartSocket
from tvs_pipeline.market.tradingview.testing.wsserver import LocalWebSocketServer

__all__ = ["ChartServer"]

NODE = "lcl1-charts-free-1-series-test-1"


@dataclass
class _Series:
    symbol: str
    turnaround: str
    data: SeriesData
    older_end: int  # bars before this index were not sent yet
    delivered: int = 0
    pages: int = 0  # request_more_data answered


class ChartServer(LocalWebSocketServer):
    """The chart websocket on ``127.0.0.1:<free port>``, in its own thread; stops itself.

    Parameters
    ----------
    history : callable
        ``(symbol, now) -> SeriesData`` or None for a symbol the service does not know.
    clock : callable
        The simulated UTC now (hello, message stamps, which bars exist, the forming bar).
    options : ChartOptions, optional
        The unverified behaviours.
    faults : dict, optional
        ``symbol -> fault`` from ``SYMBOL_FAULTS``.
    max_lifetime : float
        Seconds after which the server closes itself.
    """

    def __init__(
        self,
        history: Callable[[str, datetime], SeriesData | None],
        clock: Callable[[], datetime],
        options: ChartOptions | None = None,
        faults: dict[str, str] | None = None,
        max_lifetime: float = 600.0,
    ) -> None:
        super().__init__(max_lifetime)
        self.history = history
        self.now = clock
        self.options = options or ChartOptions()
        self.faults = dict(faults or {})
        self.stats = ChartStats()
        self._fired: set[str] = set()
        self._open = 0

    def _serve_options(self) -> dict[str, Any]:
        return {"process_request": self._check_upgrade, "max_size": None}

    def _check_upgrade(self, connection: ServerConnection, request: Request) -> Response | None:
        options = self.options
        if not request.path.startswith("/socket.io/websocket"):
            return connection.respond(404, "no such endpoint\n")
        if options.require_browser_headers:
            agent = request.headers.get("User-Agent", "")
            if not request.headers.get("Origin") or "Mozilla" not in agent:
                self.stats.refused += 1
                return connection.respond(403, "Forbidden\n")
        if options.max_connections is not None and self._open >= options.max_connections:
            self.stats.refused += 1
            return connection.respond(429, "Too Many Requests\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        self._open += 1
        self.stats.connections += 1
        sock = ChartSocket(self, ws)
        tasks = [asyncio.create_task(sock.pump()), asyncio.create_task(sock.heartbeat())]
        try:
            await self._hello(sock)
            if self.options.redirect:
                await asyncio.sleep(self.options.latency + 0.05)
                await ws.close()
                return
            async for message in ws:
                text = message if isinstance(message, str) else message.decode("utf-8")
                before = len(sock.decoder.anomalies)
                packets = sock.decoder.feed(text)
                if len(sock.decoder.anomalies) > before:
                    self.stats.client_anomalies.extend(sock.decoder.anomalies[before:])
                    if self.options.strict_lengths:
                        sock.send([sock.packet("protocol_error", ["wrong data"], stamp=False)])
                        sock.send_raw(None)
                        break
                for packet in packets:
                    if await self._on_packet(sock, packet):
                        break
                else:
                    continue
                break
            await asyncio.sleep(self.options.latency + 0.05)
        except ConnectionClosed:
            pass
        finally:
            self._open -= 1
            for task in tasks:
                task.cancel()

    async def _hello(self, sock: ChartSocket) -> None:
        now = self.now().timestamp()
        hello: dict[str, Any] = {
            "session_id": "<0.1.1>_lcl1-charts-free-1-webchart-1@lcl1-compute-1",
            "timestamp": int(now),
            "timestampMs": int(now * 1000),
            "release": "registry.local/tvbs_release/webchart:release_000-00",
            "studies_metadata_hash": "0" * 40,
            "auth_scheme_vsn": 2,
            "protocol": "json",
            "via": "127.0.0.1:443",
            "javastudies": ["3.67"],
        }
        if self.options.redirect:
            hello["redirect"] = self.options.redirect
        sock.send([sock.encode(hello)])

    async def _on_packet(self, sock: ChartSocket, packet: Any) -> bool:
        """Answer one client packet; True when the socket must stop reading."""
        if isinstance(packet, Heartbeat):
            self.stats.echoes[packet.text] = self.stats.echoes.get(packet.text, 0) + 1
            sock.pending_echo.pop(packet.text, None)
            return False
        method, params = packet.get("m"), packet.get("p") or []
        self.stats.received[method] = self.stats.received.get(method, 0) + 1
        if method == "set_auth_token":
            token = params[0] if params else ""
            if token in self.options.bad_tokens:
                sock.send([sock.packet("protocol_error", ["bad auth token"], stamp=False)])
                sock.send_raw(None)
                return True
            sock.authed, sock.silent = True, token in self.options.expired_tokens
            return False
        if not sock.authed and self.options.require_auth_first:
            sock.send([sock.packet("protocol_error", ["auth required"], stamp=False)])
            sock.send_raw(None)
            return True
        if sock.silent or method in ("set_locale", "switch_timezone"):
            return False
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return False
        return bool(handler(sock, params))

    def _m_chart_create_session(self, sock: ChartSocket, params: list[Any]) -> bool:
        limit = self.options.max_chart_sessions
        if limit is not None and len(sock.sessions) >= limit:
            sock.send([sock.packet("critical_error", [params[0], "max sessions rate reached", ""])])
            return False
        sock.sessions[params[0]] = {"refs": {}, "series": {}}
        return False

    def _m_chart_delete_session(self, sock: ChartSocket, params: list[Any]) -> bool:
        sock.sessions.pop(params[0], None)
        return False

    def _m_resolve_symbol(self, sock: ChartSocket, params: list[Any]) -> bool:
        session = sock.sessions.get(params[0])
        if session is None:
            return False
        cs, ref, key = params[0], params[1], str(params[2])
        symbol = json.loads(key[1:])["symbol"] if key.startswith("=") else key
        data = self.history(symbol, self.now())
        session["refs"][ref] = (symbol, data)
        if data is None:
            return False  # symbol_error and series_error follow create_series (as captured)
        if not self.options.resolved_late:
            sock.send([sock.packet("symbol_resolved", [cs, ref, data.info])])
        return False

    def _m_create_series(self, sock: ChartSocket, params: list[Any]) -> bool:
        cs, sid, turnaround, ref, resolution, count = params[:6]
        session = sock.sessions.get(cs)
        if session is None:
            return False
        if resolution not in RESOLUTIONS or not isinstance(count, int) or count < 1:
            args = ", ".join(str(p) for p in params[1:])
            text = f'method: create_series. args: "[{args}]"'
            sock.send([sock.packet("critical_error", [cs, "invalid parameters", text])])
            return self.options.close_on_critical
        symbol, data = session["refs"].get(ref, (None, None))
        loading = sock.packet("series_loading", [cs, sid, turnaround])
        if data is None:
            sock.send(
                [
                    loading,
                    sock.packet("symbol_error", [cs, ref, "invalid symbol"]),
                    sock.packet("series_error", [cs, sid, turnaround, "resolve error", NODE]),
                ]
            )
            return False
        self.stats.create_counts.append(count)
        self.stats.series.append((symbol, count))
        fault = self._fault(symbol)
        if fault == "silent":
            return False
        if fault in ("series_error", "critical"):
            if fault == "critical":
                sock.send([sock.packet("critical_error", [cs, "invalid parameters", "fault"])])
                return self.options.close_on_critical
            reason = "study_not_auth:BarSetPnF@tv-prostudies-1"
            sock.send([loading, sock.packet("series_error", [cs, sid, turnaround, reason, NODE])])
            return False
        n = min(count, self.options.max_bars_per_request, len(data.times))
        if self.options.history_limit is not None:
            n = min(n, self.options.history_limit)
        state = _Series(symbol, turnaround, data, older_end=len(data.times) - n, delivered=n)
        session["series"][sid] = state
        frames = [loading]
        if self.options.empty_update_first:
            frames.append(self._update(sock, cs, sid, turnaround, data, 0, 0))
        bars = self._update(sock, cs, sid, turnaround, data, state.older_end, len(data.times))
        if fault == "disconnect":
            half = state.older_end + n // 2
            sock.send(
                [*frames, self._update(sock, cs, sid, turnaround, data, half, len(data.times))]
            )
            sock.send_raw(None)
            return True
        if fault == "trailing_junk":
            bars += "<junk after a packet>"  # the real packet must survive it
        if fault == "malformed":
            frames.append('~m~40~m~{"m":"timescale_update","p":["' + cs + '",{"x":')
        frames += self._resolved_late(sock, cs, ref, data)
        tail = [
            sock.packet("series_timeframe", [cs, sid, turnaround, 0, n - 1, "", True]),
            self._completed(sock, cs, sid, state),
        ]
        if fault in ("lying_length", "split"):
            sock.send(frames)
            if fault == "lying_length":
                head, _, body = bars.partition("~m~")[2].partition("~m~")
                sock.send_raw(f"~m~{int(head) + 9}~m~{body}" + "".join(tail))
            else:
                cut = len(bars) // 2
                sock.send_raw(bars[:cut], bars[cut:] + "".join(tail))
            return False
        sock.send([*frames, bars, *tail])
        return False

    def _resolved_late(self, sock: ChartSocket, cs: str, ref: str, data: SeriesData) -> list[str]:
        if self.options.resolved_late:
            return [sock.packet("symbol_resolved", [cs, ref, data.info])]
        return []

    def _m_request_more_data(self, sock: ChartSocket, params: list[Any]) -> bool:
        cs, sid, count = params[0], params[1], params[2]
        session = sock.sessions.get(cs)
        state = session["series"].get(sid) if session else None
        if state is None:
            return False
        self.stats.more_counts.append(int(count))
        n = min(int(count), self.options.max_bars_per_request, state.older_end)
        if self.options.history_limit is not None:
            n = min(n, max(0, self.options.history_limit - state.delivered))
        if n <= 0:
            frames = []
            if self.options.exhausted_reply == "empty_update":
                frames.append(self._update(sock, cs, sid, state.turnaround, state.data, 0, 0))
            sock.send([*frames, self._completed(sock, cs, sid, state)])
            return False
        lo, hi = state.older_end - n, state.older_end
        state.pages += 1
        if state.pages == PAGING_FAULT_PAGE and self._fault(state.symbol, paging=True):
            half = hi - n // 2  # the newer half of the page, then the socket drops
            sock.send([self._update(sock, cs, sid, state.turnaround, state.data, half, hi, True)])
            sock.send_raw(None)
            return True
        state.older_end, state.delivered = lo, state.delivered + n
        bars = self._update(sock, cs, sid, state.turnaround, state.data, lo, hi, older=True)
        sock.send([bars, self._completed(sock, cs, sid, state)])
        return False

    def _m_remove_series(self, sock: ChartSocket, params: list[Any]) -> bool:
        session = sock.sessions.get(params[0])
        if session is not None:
            session["series"].pop(params[1], None)
        return False

    def _fault(self, symbol: str, paging: bool = False) -> str | None:
        """The fault to inject now: a paging fault only while paging, others on create_series."""
        fault = self.faults.get(symbol)
        if fault is None or (fault in PAGING_FAULTS) is not paging:
            return None
        if symbol in self._fired and not self.options.persistent_faults:
            return None
        self._fired.add(symbol)
        return fault

    def _update(
        self,
        sock: ChartSocket,
        cs: str,
        sid: str,
        turnaround: str,
        data: SeriesData,
        lo: int,
        hi: int,
        older: bool = False,
    ) -> str:
        """A ``timescale_update`` with bars ``lo:hi`` (empty when lo == hi)."""
        width = 6 if data.volume else 5
        rows = np.column_stack([data.times[lo:hi], data.values[lo:hi]])[:, :width].tolist()
        if older and self.options.older_index == "negative":
            indexes = range(-(hi - lo), 0)
        else:
            indexes = range(hi - lo)
        self.stats.bars_sent += hi - lo
        series = {
            "node": NODE,
            "s": [{"i": i, "v": row} for i, row in zip(indexes, rows, strict=True)],
            "ns": {"d": "", "indexes": []},
            "t": turnaround,
            "lbs": {"bar_close_time": int(data.bar_close_time)},
        }
        marks = [
            [30, int(t // 86400 * 86400), i]
            for i, t in zip(indexes, data.times[lo:hi], strict=True)
        ]
        scale = {
            "index": 0,
            "zoffset": 0,
            "changes": data.times[lo:hi].tolist(),
            "marks": marks,
            "index_diff": [],
        }
        return sock.packet("timescale_update", [cs, {sid: series}, scale])

    def _completed(self, sock: ChartSocket, cs: str, sid: str, state: _Series) -> str:
        extra: dict[str, Any] = {"rt_update_period": 5}
        if self.options.completed_marker == "trailing":
            if state.older_end == 0:
                extra["data_completed"] = "end"
            elif (
                self.options.history_limit is not None
                and state.delivered >= self.options.history_limit
            ):
                extra["data_completed"] = "limit"
        params = [cs, sid, self.options.update_mode, state.turnaround, extra]
        return sock.packet("series_completed", params)
