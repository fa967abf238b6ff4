"""Network faults of the live source: which are worth a retry, each retry said, one deadline.

A host name that does not resolve (``EAI_NONAME``, ``EAI_FAIL``, ...) or a connection the host
refuses is not transient: no retry can fix it, so the source fails at once with one line naming
the host. A temporary resolver failure (``EAI_AGAIN``), a timeout, a reset, HTTP 429 or 5xx is
transient: it is retried, every retry is announced on the ``RETRY_LOG`` logger (the Dagster shell
forwards it to the run's log and the terminal), and a ``FaultClock`` bounds the time the source
may keep failing: past its deadline the source gives up for good.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from tvs_pipeline.errors import SourceUnavailable
from tvs_pipeline.funnel.source import RETRY_LOG

__all__ = ["RETRY_LOG", "FaultClock", "announce_retry", "host_of", "unreachable"]
# Resolver errors that a later try may not repeat (the resolver itself is unavailable).
TRANSIENT_RESOLVER_ERRORS = frozenset({getattr(socket, "EAI_AGAIN", -3)})
# Faults further apart than this belong to different episodes (last night's outage is not
# tonight's); far longer than a step retry's wait, so step retries stay in one episode.
EPISODE_GAP = 3600.0
MAX_CHAIN = 12


def host_of(url: str) -> str:
    """``host`` or ``host:port`` of a URL, for messages."""
    return urlsplit(url).netloc or url


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and the exceptions behind it: causes, contexts, ``reason`` and exception args."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [err]
    while todo and len(seen) < MAX_CHAIN:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        todo.extend(e for e in linked if isinstance(e, BaseException))
    return seen


def unreachable(err: BaseException, url: str) -> str | None:
    """Why ``url`` cannot be reached by any retry, or None when ``err`` may be transient.

    Parameters
    ----------
    err : BaseException
        What a connection attempt raised (``requests``, ``websockets`` or a bare ``OSError``).
    url : str
        The URL tried, named in the message.

    Returns
    -------
    str or None
        ``host <h> does not resolve (<resolver's words>)`` for a name the resolver says does not
        exist, ``<host> refused the connection`` for a refused TCP connection; None otherwise
        (``EAI_AGAIN``, timeouts, resets and anything else are for retrying).
    """
    host = host_of(url)
    for cause in _chain(err):
        if isinstance(cause, socket.gaierror):
            if cause.errno in TRANSIENT_RESOLVER_ERRORS:
                return None
            name = urlsplit(url).hostname or host
            return f"host {name} does not resolve ({cause.strerror or cause})"
        if isinstance(cause, ConnectionRefusedError):
            return f"{host} refused the connection"
    return None


def announce_retry(
    what: str,
    retry: int,
    retries: int,
    delay: float,
    reason: object,
    *,
    level: int = logging.WARNING,
) -> str:
    """Log ``<what>: retry <n>/<N> in <s> s: <reason>`` on ``RETRY_LOG``; return the line."""
    text = " ".join(str(reason).split())[:240]
    line = f"{what}: retry {retry}/{retries} in {delay:.1f} s: {text}"
    RETRY_LOG.log(level, line)
    return line


class FaultClock:
    """How long the source has been failing without a success, against one deadline.

    The clock starts at the first transient fault and stops at the next success (or when no
    fault came for ``EPISODE_GAP`` seconds: a new episode); a retry that would end past ``deadline``
    seconds after the episode's first fault is refused (``check``). One clock
    is shared by the scanner and the chart client of a source, and lives as long as the source
    (the Dagster shell keeps one per process, so step retries read the same clock).

    Parameters
    ----------
    deadline : float
        Seconds the source may keep failing (``TVS_TV_DEADLINE``).
    clock : callable, optional
        Monotonic seconds.
    """

    def __init__(self, deadline: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.deadline = float(deadline)
        self._clock = clock
        self.failing_since: float | None = None
        self.last_fault: float | None = None

    def fault(self) -> None:
        """Note a transient fault (starts the clock if it is not running or the episode is old)."""
        now = self._clock()
        gap = max(self.deadline, EPISODE_GAP)
        stale = self.last_fault is not None and now - self.last_fault > gap
        if self.failing_since is None or stale:
            self.failing_since = now
        self.last_fault = now

    def success(self) -> None:
        """Note a success: the source is healthy again."""
        self.failing_since = self.last_fault = None

    def failing_for(self) -> float:
        """Seconds since the first fault without a success (0 when healthy)."""
        return 0.0 if self.failing_since is None else self._clock() - self.failing_since

    def left(self) -> float:
        """Seconds the source may still spend failing before its deadline."""
        return self.deadline - self.failing_for()

    def check(self, delay: float, where: str, last: object) -> None:
        """Refuse a retry after ``delay`` seconds that would end past the deadline.

        Raises
        ------
        SourceUnavailable
            The source has failed for so long that the retry would pass the deadline.
        """
        self.fault()
        spent = self.failing_for()
        if spent + delay > self.deadline:
            text = " ".join(str(last).split())[:240]
            raise SourceUnavailable(
                f"{where}: failing for {spent:.0f} s; another try in {delay:.0f} s would pass "
                f"the source deadline of {self.deadline:g} s (TVS_TV_DEADLINE); last: {text}"
            )
