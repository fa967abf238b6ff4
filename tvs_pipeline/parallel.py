"""Day-parallel execution: the days of a single-run backfill are independent computations."""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

__all__ = ["MIN_PARALLEL_CALLS", "default_workers", "map_calls"]

T = TypeVar("T")
# Fewer calls than this run in the calling process: a worker and the pickling of its calls
# are not free, and a nightly run has one day.
MIN_PARALLEL_CALLS = 16
# Forked workers, where the platform has fork. Spawn and forkserver start a fresh interpreter
# that re-imports the parent's __main__, and a run launched from the UI runs under
# `python -m dagster`, whose __main__ starts Dagster's CLI when imported: every worker would
# die. A forked worker inherits the loaded modules (no start-up cost) and runs only pure
# pandas/numpy/solver code, so the usual hazard of forking a threaded process (a lock held
# by another thread at fork time) does not reach it.
_START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def map_calls(
    function: Callable[..., T],
    calls: Sequence[Mapping[str, Any]],
    workers: int = 1,
    min_calls: int = MIN_PARALLEL_CALLS,
    shared: Mapping[str, Any] | None = None,
) -> list[T]:
    """``[function(**shared, **call) for call in calls]``, spread over ``workers`` processes.

    Results come back in call order and equal the sequential ones: each call must be a pure
    function of its arguments (module-level ``function``, picklable arguments). Arguments are
    passed by keyword. ``shared`` arguments (a span of bars every day cuts its window from)
    travel once per worker, not once per call. A worker's exception is raised here unchanged.
    """
    shared = dict(shared or {})
    if workers <= 1 or len(calls) < max(2, min_calls):
        return [function(**shared, **call) for call in calls]
    context = multiprocessing.get_context(_START_METHOD)
    count = min(workers, len(calls))
    # Several calls per message: a day's call is tens of milliseconds, a round trip is not free.
    chunk = max(1, len(calls) // (count * 8))
    with ProcessPoolExecutor(
        max_workers=count, mp_context=context, initializer=_install, initargs=(shared,)
    ) as pool:
        bound = functools.partial(_with_shared, function)
        return list(pool.map(bound, calls, chunksize=chunk))


_SHARED: dict[str, Any] = {}


def _install(shared: dict[str, Any]) -> None:
    global _SHARED
    _SHARED = shared


def _with_shared(function: Callable[..., T], call: Mapping[str, Any]) -> T:
    return function(**_SHARED, **call)
