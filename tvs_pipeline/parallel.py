"""Day-parallel execution: the days of a single-run backfill are independent computations."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

__all__ = ["MIN_PARALLEL_CALLS", "default_workers", "map_calls"]

T = TypeVar("T")
# Fewer calls than this run in the calling process: starting a worker (a fresh interpreter
# importing pandas and the optimisers) costs seconds, a nightly run has one day.
MIN_PARALLEL_CALLS = 16


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def map_calls(
    function: Callable[..., T],
    calls: Sequence[tuple[Any, ...]],
    workers: int = 1,
    min_calls: int = MIN_PARALLEL_CALLS,
) -> list[T]:
    """``[function(*call) for call in calls]``, spread over ``workers`` processes.

    Results come back in call order and equal the sequential ones: each call must be a pure
    function of its arguments (module-level ``function``, picklable arguments). Workers are
    spawned, not forked, because the caller may be a thread of a process holding locks
    (a Dagster run in its worker thread); a worker's exception is raised here unchanged.
    """
    if workers <= 1 or len(calls) < max(2, min_calls):
        return [function(*call) for call in calls]
    context = multiprocessing.get_context("spawn")
    count = min(workers, len(calls))
    # Several calls per message: a day's call is tens of milliseconds, a round trip is not free.
    chunk = max(1, len(calls) // (count * 8))
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        return list(pool.map(function, *zip(*calls, strict=True), chunksize=chunk))
