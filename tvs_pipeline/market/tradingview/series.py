"""One symbol's daily series on a chart session: request, accumulate, page back, finish.

The request is ``resolve_symbol`` + ``create_series`` with the bar count the window needs.
Bars from ``timescale_update`` and ``du`` are merged by bar time (never by ``i``), so paging,
live updates and a resumed request never duplicate a bar. ``series_completed`` for our
turnaround ends a chunk; ``request_more_data`` pages back until the window's first instant is
covered, the service marks the end (``data_completed``: ``end``/``limit``), a page brings no bar
older than this request's own oldest, or the page budget is spent. A request resumed after a drop
merges into the bars already held, but its stop rules read its own pages: a resumed request
starts again from the newest bars, and pages that only overlap what is held are progress towards
the held oldest bar, not the end of the history. Silence for ``idle_timeout`` seconds ends the
request with an error that says what did arrive.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from typing import Any

from tvs_pipeline.market.tradingview.connection import ChartConnection, Closed, ConnectionLost

__all__ = ["DAY_SECONDS", "SeriesFailed", "SeriesRequest", "SeriesResult", "fetch_series"]

DAY_SECONDS = 86_400
RESOLUTION = "1D"
MAX_PAGES = 50
# Fields of a bar: time, open, high, low, close, volume (absent for index and FX series).
Bar = tuple[float, float, float, float, float]


class SeriesFailed(Exception):
    """The service answered the request with an error, or went silent.

    Attributes
    ----------
    reason : str
        One line for ``data_health``.
    session_broken : bool
        The chart session itself is unusable afterwards (``critical_error``).
    silent : bool
        Nothing but heartbeats ever arrived on the connection.
    """

    def __init__(self, reason: str, session_broken: bool = False, silent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.session_broken = session_broken
        self.silent = silent


@dataclass
class SeriesRequest:
    """What to fetch: ``symbol``'s daily bars from the instant ``since`` (epoch seconds) on."""

    symbol: str
    since: float
    adjustment: str = "splits"
    session: str = "regular"


@dataclass
class SeriesResult:
    """Bars by open instant (epoch s) -> [open, high, low, close, volume or NaN], and why done."""

    bars: dict[float, list[float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    pages: int = 0
    done: str = ""
    bar_close_time: float | None = None
    malformed_bars: int = 0


def bars_needed(since: float, now: float) -> int:
    """Daily bars from ``since`` to ``now``: at most one per calendar day, plus the forming one."""
    return max(2, math.ceil((now - since) / DAY_SECONDS) + 2)


def _symbol_key(request: SeriesRequest) -> str:
    body = {"adjustment": request.adjustment, "session": request.session, "symbol": request.symbol}
    return "=" + json.dumps(body, sort_keys=True, separators=(",", ":"))


def _merge(result: SeriesResult, series: dict[str, Any]) -> float | None:
    """Merge one series object's bars; return the oldest bar time it carried (None: no bar)."""
    oldest: float | None = None
    for entry in series.get("s") or []:
        values = entry.get("v") if isinstance(entry, dict) else None
        if (
            not isinstance(values, list)
            or len(values) < 5
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values[:6])
        ):
            result.malformed_bars += 1
            continue
        stamp = float(values[0])
        oldest = stamp if oldest is None else min(oldest, stamp)
        volume = float(values[5]) if len(values) > 5 else math.nan
        result.bars[stamp] = [float(v) for v in values[1:5]] + [volume]
    close_time = (series.get("lbs") or {}).get("bar_close_time")
    if isinstance(close_time, int | float):
        result.bar_close_time = float(close_time)
    return oldest


def _silence(
    idle_timeout: float, step: str, seen: int, connection: ChartConnection
) -> SeriesFailed:
    """The error of a request that heard nothing for ``idle_timeout``, saying what did arrive."""
    heartbeats, data = getattr(connection, "heartbeats", 0), connection.data_packets
    silent = seen == 0 and data == 0
    if silent and heartbeats:
        what = f"only {heartbeats} heartbeats on the connection: the auth token may have expired"
    elif silent:
        what = "nothing at all on the connection, not even a heartbeat"
    else:
        what = f"{seen} packets for this series, {data} data packets on the connection"
    return SeriesFailed(f"no answer within {idle_timeout:g}s after {step} ({what})", silent=silent)


async def fetch_series(
    connection: ChartConnection,
    queue: asyncio.Queue[Any],
    session: str,
    number: int,
    request: SeriesRequest,
    idle_timeout: float,
    result: SeriesResult | None = None,
) -> SeriesResult:
    """Fetch one symbol's daily history on chart session ``session``.

    Parameters
    ----------
    connection : ChartConnection
        The open connection that carries ``session``.
    queue : asyncio.Queue
        The session's packets (``connection.subscribe(session)``).
    session : str
        The chart session id.
    number : int
        Per-session request number: ids are ``sds_sym_<n>``, ``sds_<n>``, turnaround ``s<n>``.
    request : SeriesRequest
        Symbol and first instant wanted.
    idle_timeout : float
        Seconds without a packet for this request before it fails.
    result : SeriesResult, optional
        Bars of an interrupted earlier try, merged into (a resumed request never duplicates).

    Returns
    -------
    SeriesResult
        Bars by open instant, the symbol info, pages requested and why the request ended.

    Raises
    ------
    SeriesFailed
        ``symbol_error``, ``series_error``, ``critical_error``, or silence.
    ConnectionLost
        The socket closed before the series completed.
    """
    result = result if result is not None else SeriesResult()
    ref, series, turnaround = f"sds_sym_{number}", f"sds_{number}", f"s{number}"
    count = bars_needed(request.since, connection.now())
    await connection.send(
        [
            ("resolve_symbol", [session, ref, _symbol_key(request)]),
            ("create_series", [session, series, turnaround, ref, RESOLUTION, count, ""]),
        ]
    )
    step, seen, pages = "create_series", 0, 0
    # The oldest bar this request's own chunks brought, and its value when the page was asked.
    own: float | None = None
    before_page: float | None = None
    while True:
        try:
            packet = await asyncio.wait_for(queue.get(), idle_timeout)
        except TimeoutError as err:
            raise _silence(idle_timeout, step, seen, connection) from err
        if isinstance(packet, Closed):
            raise ConnectionLost(packet.reason)
        method, params = packet.get("m"), packet.get("p") or []
        mine = len(params) > 1 and params[1] in (ref, series)
        if method == "critical_error":
            detail = ": ".join(str(p) for p in params[1:3] if p)
            raise SeriesFailed(f"critical_error {detail}", session_broken=True)
        if not mine and method not in ("timescale_update", "du"):
            continue
        seen += 1
        if method == "symbol_resolved":
            result.info = params[2] if len(params) > 2 and isinstance(params[2], dict) else {}
        elif method == "symbol_error":
            reason = params[2] if len(params) > 2 else "symbol error"
            raise SeriesFailed(f"symbol_error: {reason} ({request.symbol})")
        elif method == "series_error":
            if len(params) > 2 and params[2] not in (turnaround, None):
                continue
            reason = params[3] if len(params) > 3 else "series error"
            raise SeriesFailed(f"series_error: {reason}")
        elif method in ("timescale_update", "du"):
            found = (
                params[1].get(series) if len(params) > 1 and isinstance(params[1], dict) else None
            )
            if isinstance(found, dict) and found.get("t", turnaround) == turnaround:
                oldest = _merge(result, found)
                if oldest is not None:
                    own = oldest if own is None else min(own, oldest)
                seen += 1
        elif method == "series_completed":
            if len(params) > 3 and params[3] != turnaround:
                continue
            extra = params[4] if len(params) > 4 and isinstance(params[4], dict) else {}
            marker = extra.get("data_completed")
            earliest = min(result.bars) if result.bars else None
            if earliest is None:
                result.done = "the service has no bar for it"
            elif earliest <= request.since:
                result.done = "depth reached"
            elif marker in ("end", "limit"):
                result.done = f"history {marker}"
            elif own is None or (pages and not own < before_page):  # type: ignore[operator]
                result.done = "no older bars"
            elif pages >= MAX_PAGES:
                result.done = "page budget spent"
            else:
                more = bars_needed(request.since, own) - 1
                await connection.send([("request_more_data", [session, series, more])])
                pages, before_page, step = pages + 1, own, "request_more_data"
                continue
            result.pages += pages
            break
    try:
        await connection.send([("remove_series", [session, series])])
    except ConnectionLost:
        pass
    return result
