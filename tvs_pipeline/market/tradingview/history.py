"""Daily history of many symbols over a bounded pool of chart sessions, resilient to drops.

``pool_size`` workers share ``connections`` websockets; each worker keeps one chart session and
fetches its symbols one after another (series ids numbered per session, so late packets of an
earlier request are never mistaken for the current one). A symbol that fails is reported with
its reason and never fails the batch. A dropped socket is reopened with exponential backoff and
jitter (each try announced, all bounded by the source's deadline), and the interrupted symbol
resumes, its bars merged by time. Faults of the whole session (``protocol_error`` such as a bad
token, a connection that only ever sends heartbeats, a host that refuses every handshake) raise
``SourceError``: no symbol could succeed; a name that does not resolve, a refused connection or
a handshake refused for good raises ``SourceUnavailable`` at once (no retry can fix it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tvs_pipeline.errors import ConfigError, SourceError, SourceUnavailable
from tvs_pipeline.market.tradingview.connection import (
    ChartConnection,
    ConnectionLost,
    FatalSourceFault,
    HandshakeRefused,
    Unreachable,
)
from tvs_pipeline.market.tradingview.faults import (
    RETRY_LOG,
    FaultClock,
    announce_retry,
    host_of,
    unreachable,
)
from tvs_pipeline.market.tradingview.pacing import RateLimiter, shared_limiter
from tvs_pipeline.market.tradingview.series import (
    SeriesFailed,
    SeriesRequest,
    SeriesResult,
    fetch_series,
)
from tvs_pipeline.settings import TradingViewSettings

__all__ = ["HistoryBatch", "HistoryClient", "SymbolOutcome", "random_session_id"]

LOG = logging.getLogger(__name__)
ATTEMPTS_PER_SYMBOL = 3
SILENT_REQUESTS = 2  # requests answered by heartbeats only before the token is blamed
RETRY_STATUSES = (429, 500, 502, 503, 504)


def random_session_id(prefix: str = "cs_") -> str:
    """A chart session id: the prefix and 12 random letters and digits."""
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(12))


@dataclass
class SymbolOutcome:
    """What happened to one symbol: its bars or the reason it has none."""

    symbol: str
    result: SeriesResult | None = None
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0


@dataclass
class HistoryBatch:
    """Outcomes of one batch, and what crossed the wire."""

    outcomes: dict[str, SymbolOutcome] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    connections_opened: int = 0
    anomalies: list[str] = field(default_factory=list)
    seconds: float = 0.0
    server_now: float | None = None


class _SlotUnavailable(Exception):
    """A slot cannot connect while others of the pool can: its workers stand down."""


class _Slot:
    """One connection of the pool, reopened on demand with backoff (shared by its workers)."""

    def __init__(self, client: HistoryClient, batch: HistoryBatch, slots: list[_Slot]) -> None:
        self.client, self.batch, self.client_slots = client, batch, slots
        self.connection: ChartConnection | None = None
        self.opened: list[ChartConnection] = []
        self.drops = 0
        self.unavailable = False
        self._lock = asyncio.Lock()

    async def get(self) -> ChartConnection:
        async with self._lock:
            current = self.connection
            if current is not None and current.is_open:
                return current
            where = f"chart {host_of(self.client.settings.ws_url)}"
            if current is not None:
                if current.fatal:
                    raise FatalSourceFault(current.fatal)
                self.drops += 1
                delay = self.client.backoff(self.drops)
                RETRY_LOG.warning(
                    "%s: %s; reconnecting in %.1f s (drop %d, the symbol resumes)",
                    where,
                    current.closed or "socket closed",
                    delay,
                    self.drops,
                )
                await asyncio.sleep(delay)
            settings, failures = self.client.settings, 0
            while True:
                if self.batch.connections_opened:
                    await self.client.handshake_pacer.wait_async()
                connection = ChartConnection(settings.ws_url, settings.token)
                try:
                    await connection.open()
                except HandshakeRefused as err:
                    if err.status not in RETRY_STATUSES:
                        raise Unreachable(f"websocket handshake refused: {err}") from err
                    reason = f"websocket handshake refused: {err}"
                except (OSError, TimeoutError, ConnectionLost) as err:
                    cause = unreachable(err, settings.ws_url)
                    if cause is not None:
                        raise Unreachable(
                            f"cannot connect to {settings.ws_url}: {cause} "
                            "(check TVS_TV_WS_URL and the network)"
                        ) from err
                    reason = f"cannot connect to {settings.ws_url}: {err or type(err).__name__}"
                else:
                    self.client.faults.success()
                    self.batch.connections_opened += 1
                    self.opened.append(connection)
                    if connection.fatal:
                        raise FatalSourceFault(connection.fatal)
                    self.connection = connection
                    return connection
                failures += 1
                if failures > settings.reconnects:
                    if any(slot.connection is not None for slot in self.client_slots):
                        self.unavailable = True
                        raise _SlotUnavailable(reason)
                    raise FatalSourceFault(f"{reason} ({failures} tries)")
                delay = self.client.backoff(failures)
                try:
                    self.client.faults.check(delay, where, reason)
                except SourceUnavailable as err:
                    raise Unreachable(str(err).removeprefix(f"{where}: ")) from err
                announce_retry(where, failures, settings.reconnects, delay, reason)
                await asyncio.sleep(delay)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
        for connection in self.opened:
            for method, count in connection.sent.items():
                self.batch.sent[method] = self.batch.sent.get(method, 0) + count
            self.batch.anomalies.extend(connection.anomalies)
            if connection.server_now:
                self.batch.server_now = max(self.batch.server_now or 0.0, connection.server_now)
        self.opened, self.connection = [], None


class HistoryClient:
    """Fetches daily bars of many symbols from the chart websocket.

    Parameters
    ----------
    settings : TradingViewSettings
        URL, token, pool size, connections, pacing, timeouts and reconnects.
    session_ids : callable, optional
        Makes chart session ids (tests pass a fixed one to replay recorded frames).
    faults : FaultClock, optional
        The source's deadline clock (its own, at ``settings.deadline``, when omitted).
    """

    def __init__(
        self,
        settings: TradingViewSettings,
        session_ids: Callable[[], str] = random_session_id,
        faults: FaultClock | None = None,
    ) -> None:
        self.settings = settings
        self.session_ids = session_ids
        self.faults = faults or FaultClock(settings.deadline)
        self.series_pacer: RateLimiter = shared_limiter(
            f"series:{settings.ws_url}", settings.series_per_second
        )
        self.handshake_pacer: RateLimiter = shared_limiter(
            f"handshake:{settings.ws_url}", max(settings.series_per_second / 5.0, 0.2)
        )

    def backoff(self, failures: int) -> float:
        """Seconds before reconnect number ``failures``: exponential, capped, full jitter."""
        ceiling = min(self.settings.backoff_max, 0.5 * 2 ** (failures - 1))
        return random.uniform(ceiling / 2, ceiling)

    def fetch(self, requests: list[SeriesRequest]) -> HistoryBatch:
        """Run :meth:`fetch_async` to completion from synchronous code.

        Raises
        ------
        ConfigError
            The token was refused or only heartbeats arrive (expired token).
        SourceUnavailable
            The host does not resolve, refuses connections or the handshake, or the retries
            would pass the source's deadline.
        SourceError
            The host is unreachable or refuses the websocket after every retry.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.fetch_async(requests))
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self.fetch_async(requests)).result()

    async def fetch_async(self, requests: list[SeriesRequest]) -> HistoryBatch:
        """Fetch every request over the pool; one outcome per symbol.

        Raises
        ------
        ConfigError
            The token was refused or only heartbeats arrive (expired token).
        SourceError
            The host is unreachable or refuses the websocket.
        """
        started = time.perf_counter()
        batch = HistoryBatch()
        pending: asyncio.Queue[SeriesRequest] = asyncio.Queue()
        for request in requests:
            pending.put_nowait(request)
        n_connections = max(1, min(self.settings.connections, len(requests)))
        slots: list[_Slot] = []
        slots.extend(_Slot(self, batch, slots) for _ in range(n_connections))
        workers = max(1, min(self.settings.pool_size, len(requests)))
        state: dict[str, Any] = {
            "silent": 0,
            "fatal": None,
            "token": False,
            "alive": 0,
            "left": "no connection",
            "unavailable": False,
        }
        try:
            for _ in range(3):  # a slot that cannot connect hands its symbols back
                usable = [slot for slot in slots if not slot.unavailable]
                if not usable or pending.empty() or state["fatal"]:
                    break
                tasks = [
                    asyncio.create_task(self._work(usable[w % len(usable)], pending, batch, state))
                    for w in range(workers)
                ]
                try:
                    await asyncio.gather(*tasks)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            for slot in slots:
                await slot.close()
        while not pending.empty():
            left = pending.get_nowait()
            batch.outcomes[left.symbol] = SymbolOutcome(
                left.symbol, error=f"not fetched: {state['left']}"
            )
        batch.seconds = time.perf_counter() - started
        if state["fatal"]:
            kind = (
                ConfigError
                if state["token"]
                else SourceUnavailable
                if state["unavailable"]
                else SourceError
            )
            error = kind(f"tradingview history {self.settings.ws_url}: {state['fatal']}")
            error.deadline_left = self.faults.left()  # type: ignore[attr-defined]
            raise error
        return batch

    async def _work(
        self,
        slot: _Slot,
        pending: asyncio.Queue[SeriesRequest],
        batch: HistoryBatch,
        state: dict[str, Any],
    ) -> None:
        state["alive"] += 1
        try:
            await self._work_queue(slot, pending, batch, state)
        finally:
            state["alive"] -= 1

    async def _work_queue(
        self,
        slot: _Slot,
        pending: asyncio.Queue[SeriesRequest],
        batch: HistoryBatch,
        state: dict[str, Any],
    ) -> None:
        session: tuple[ChartConnection, str, asyncio.Queue[Any]] | None = None
        number = 0
        while not pending.empty() and not state["fatal"]:
            request = pending.get_nowait()
            outcome = SymbolOutcome(request.symbol)
            batch.outcomes[request.symbol] = outcome
            started, partial = time.perf_counter(), SeriesResult()
            while outcome.attempts < ATTEMPTS_PER_SYMBOL and not state["fatal"]:
                outcome.attempts += 1
                try:
                    connection = await slot.get()
                    if session is None or session[0] is not connection:
                        chart = self.session_ids()
                        queue = connection.subscribe(chart)
                        await connection.send([("chart_create_session", [chart, ""])])
                        session, number = (connection, chart, queue), 0
                    number += 1
                    await self.series_pacer.wait_async()
                    outcome.result = await fetch_series(
                        connection,
                        session[2],
                        session[1],
                        number,
                        request,
                        self.settings.idle_timeout,
                        partial,
                    )
                    outcome.error = None
                    state["silent"] = 0
                    break
                except ConnectionLost as err:
                    outcome.error = f"connection lost {outcome.attempts}x: {err}"
                    LOG.info("%s: %s; resuming", request.symbol, outcome.error)
                except SeriesFailed as err:
                    if "max sessions" in err.reason and state["alive"] > 1:
                        # The service refuses this worker a chart session (too many sessions):
                        # the symbol goes back to the queue and the worker stands down.
                        del batch.outcomes[request.symbol]
                        pending.put_nowait(request)
                        state["left"] = err.reason
                        return
                    outcome.error = err.reason
                    if err.session_broken and session is not None:
                        session[0].unsubscribe(session[1])
                        session = None
                    if err.silent:
                        state["silent"] += 1
                        if state["silent"] >= SILENT_REQUESTS:
                            state["token"] = "heartbeats" in err.reason
                            state["fatal"] = (
                                f"{state['silent']} requests answered by heartbeats only: the "
                                "auth token has probably expired (renew TVS_TV_TOKEN or unset it)"
                                if state["token"]
                                else f"{state['silent']} requests answered by nothing at all, "
                                "not even a heartbeat: the service does not answer"
                            )
                    break
                except _SlotUnavailable as err:
                    state["left"] = str(err)
                    del batch.outcomes[request.symbol]
                    pending.put_nowait(request)  # another connection takes it
                    return
                except FatalSourceFault as err:
                    state["fatal"] = str(err)
                    state["unavailable"] = isinstance(err, Unreachable)
                    if "protocol_error" in str(err):
                        state["token"] = True
                        state["fatal"] += " (check TVS_TV_TOKEN, or unset it for anonymous access)"
                    outcome.error = state["fatal"]
            outcome.seconds = time.perf_counter() - started
