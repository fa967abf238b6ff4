"""Request pacing: a process-wide rate limit per endpoint, for threads and for asyncio tasks."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

__all__ = ["RateLimiter", "shared_limiter"]

_LIMITERS: dict[tuple[str, float], RateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


class RateLimiter:
    """At most ``rate`` starts per second, spaced evenly, shared by every caller.

    Each call reserves the next free slot under a lock and then waits outside it, so concurrent
    callers (threads or asyncio tasks on any loop) queue in arrival order.

    Parameters
    ----------
    rate : float
        Starts per second (> 0).
    clock : callable, optional
        Monotonic seconds; ``time.monotonic`` by default.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"rate {rate!r}: must be > 0")
        self.rate = float(rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._next = 0.0

    def reserve(self) -> float:
        """Take the next slot; return the seconds to wait before starting."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + 1.0 / self.rate
            return start - now

    def wait(self) -> float:
        """Block the calling thread until its slot; return the seconds waited."""
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)
        return delay

    async def wait_async(self) -> float:
        """Suspend the calling task until its slot; return the seconds waited."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
        return delay


def shared_limiter(endpoint: str, rate: float) -> RateLimiter:
    """The one limiter of ``endpoint`` at ``rate`` in this process (created on first use)."""
    with _REGISTRY_LOCK:
        key = (endpoint, float(rate))
        if key not in _LIMITERS:
            _LIMITERS[key] = RateLimiter(rate)
        return _LIMITERS[key]
