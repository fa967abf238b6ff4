"""Day-parallel execution over any ``concurrent.futures.Executor``: local processes or Dask.

The days of a range run are independent computations. They are grouped into batches and sent
to an executor: a local process pool by default, or a Dask distributed cluster when a
scheduler address is given (``$TVS_DASK_SCHEDULER``, through `distributed.Client.get_executor`),
so the same code spreads a step's days over one machine's cores or over many machines.
"""

from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any, TypeVar

from threadpoolctl import threadpool_limits

from tvs_pipeline.errors import ConfigError

__all__ = [
    "BATCHES_PER_WORKER",
    "CLUSTER_START_SECONDS",
    "MIN_PARALLEL_CALLS",
    "check_worker_imports",
    "dask_executor",
    "default_workers",
    "local_cluster",
    "map_calls",
    "run_batches",
]

T = TypeVar("T")
# Fewer calls than this run in the calling process: a worker and the pickling of its calls
# are not free, and a nightly run has one day.
MIN_PARALLEL_CALLS = 16
# Several calls per message: a day's call is tens of milliseconds, a round trip is not free;
# eight batches per worker still balance days of uneven cost.
BATCHES_PER_WORKER = 8
# Forked local workers, where the platform has fork. Spawn and forkserver start a fresh
# interpreter that re-imports the parent's __main__, and a run launched from the UI runs under
# `python -m dagster`, whose __main__ starts Dagster's CLI when imported: every worker would
# die. A forked worker inherits the loaded modules (no start-up cost) and runs only pure
# pandas/numpy/solver code, so the usual hazard of forking a threaded process (a lock held
# by another thread at fork time) does not reach it. Dask workers are not children of the
# run at all (started by `dask worker` or a cluster manager), so no __main__ is re-imported.
_START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
# A worker runs one batch per core; a BLAS that also takes every core oversubscribes them
# (two BLAS threads made clustering 2-3x slower on a 2-core machine).
BLAS_THREADS = 1
DASK_CONNECT_TIMEOUT = "5s"
# A LocalCluster (tests, benchmarks, a try-out on one machine) that has not started in this
# long has failed: said in one line instead of waiting for ever.
CLUSTER_START_SECONDS = 60


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def dask_executor(scheduler: str) -> Iterator[tuple[Executor, Any, int]]:
    """The executor of a Dask ``Client`` connected to ``scheduler``.

    Parameters
    ----------
    scheduler : str
        A Dask scheduler address (``tcp://host:8786``).

    Yields
    ------
    (Executor, Client, int)
        ``Client.get_executor()``, the client (to scatter shared data) and the cluster's
        worker threads (how many calls run at once).

    Raises
    ------
    ConfigError
        Dask distributed is not installed, the scheduler cannot be reached, or its cluster
        has no worker.
    """
    try:
        from distributed import Client
    except ImportError as err:
        raise ConfigError(
            f"TVS_DASK_SCHEDULER {scheduler!r}: dask distributed is not installed "
            "(pip install 'tvs_pipeline[dask]')"
        ) from err
    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise ConfigError(
            f"TVS_DASK_SCHEDULER {scheduler!r}: cannot reach the Dask scheduler "
            f"({str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from err
    with client:
        threads = sum(client.nthreads().values())
        if threads < 1:
            raise ConfigError(f"TVS_DASK_SCHEDULER {scheduler!r}: the cluster has no worker")
        # pure=False: two equal batches of a run are still two tasks.
        yield client.get_executor(pure=False), client, threads


def map_calls(
    function: Callable[..., T],
    calls: Sequence[Mapping[str, Any]],
    workers: int = 1,
    min_calls: int = MIN_PARALLEL_CALLS,
    shared: Mapping[str, Any] | None = None,
    scheduler: str = "",
) -> list[T]:
    """``[function(**shared, **call) for call in calls]``, spread over an executor.

    Results come back in call order and equal the sequential ones: each call must be a pure
    function of its arguments (module-level ``function``, picklable arguments). Arguments are
    passed by keyword. Calls travel in batches (`BATCHES_PER_WORKER` per worker), each run
    with BLAS held to one thread. ``shared`` arguments (a span of bars every day cuts its
    window from) travel once per worker: installed in each local worker as it starts, or
    scattered to every Dask worker. A worker's exception is raised here unchanged.

    Parameters
    ----------
    function : callable
        The day function.
    calls : sequence of mapping
        Keyword arguments of each call.
    workers : int
        Local processes (forked); 1 runs every call here unless ``scheduler`` is given.
    min_calls : int
        Fewer calls than this run here: a worker's start-up costs more than they do.
    shared : mapping, optional
        Keyword arguments every call gets the same.
    scheduler : str
        A Dask scheduler address: the calls run on its cluster instead of local processes.

    Returns
    -------
    list
        One result per call, in call order.

    Raises
    ------
    ConfigError
        ``scheduler`` is given but cannot be used (`dask_executor`).
    """
    shared = dict(shared or {})
    if (not scheduler and workers <= 1) or len(calls) < max(2, min_calls):
        return [function(**shared, **call) for call in calls]
    if scheduler:
        with dask_executor(scheduler) as (executor, client, threads):
            check_worker_imports(client, function, scheduler)
            # One future for the whole mapping (a dict scattered whole would name its tasks
            # after its keys), copied to every worker once.
            payload = client.scatter([shared], broadcast=True, hash=False)[0] if shared else {}
            return run_batches(executor, threads, function, calls, payload)
    count = min(workers, len(calls))
    context = multiprocessing.get_context(_START_METHOD)
    with ProcessPoolExecutor(
        max_workers=count, mp_context=context, initializer=_install, initargs=(shared,)
    ) as pool:
        return run_batches(pool, count, function, calls, None)


def check_worker_imports(client: Any, function: Callable[..., Any], scheduler: str) -> None:
    """Raise unless every worker of ``client`` can import the module of ``function``.

    A function travels to a Dask worker by reference (its module and name). A worker that
    cannot import that module (another environment, a module that is not installed) fails
    to read the task, and Dask never answers for it: the run would wait for ever. A module
    registered with ``cloudpickle.register_pickle_by_value`` travels whole and is not checked.

    Raises
    ------
    ConfigError
        A worker cannot import the module: names it and how many workers.
    """
    import cloudpickle

    module = function.__module__
    if module == "__main__" or module in cloudpickle.list_registry_pickle_by_value():
        return
    found = client.run(importlib.util.find_spec, module, on_error="return")
    missing = [w for w, spec in found.items() if spec is None or isinstance(spec, BaseException)]
    if missing:
        raise ConfigError(
            f"TVS_DASK_SCHEDULER {scheduler!r}: {len(missing)} of {len(found)} workers cannot "
            f"import {module} (install the same tvs_pipeline on them, runbook §9.3)"
        )


@contextlib.contextmanager
def local_cluster(workers: int = 2, timeout: float = CLUSTER_START_SECONDS) -> Iterator[str]:
    """A Dask ``LocalCluster`` of ``workers`` one-thread processes on 127.0.0.1; its address.

    For tests, benchmarks and a try-out on one machine; never start one inside a run (its
    workers are spawned and re-import the run's ``__main__``, runbook §9.1). Its start, and
    each worker's, is bounded by ``timeout`` seconds, and so is its close.

    Raises
    ------
    ConfigError
        Dask distributed is not installed, or the cluster did not start within ``timeout``.
    """
    try:
        from distributed import LocalCluster
    except ImportError as err:
        raise ConfigError(
            "dask distributed is not installed (pip install 'tvs_pipeline[dask]')"
        ) from err
    started: list[Any] = []
    failed: list[BaseException] = []

    def start() -> None:
        try:
            started.append(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    death_timeout=timeout,  # a worker that cannot reach the scheduler ends
                )
            )
        except BaseException as err:  # handed to the caller below
            failed.append(err)

    # Started in a thread so that the wait is bounded whatever part of the start hangs.
    thread = threading.Thread(target=start, name="tvs-local-cluster", daemon=True)
    thread.start()
    thread.join(timeout)
    if failed:
        raise ConfigError(f"Dask LocalCluster of {workers} workers: {failed[0]}") from failed[0]
    if not started:
        raise ConfigError(
            f"Dask LocalCluster of {workers} workers: not started within {timeout:.0f}s"
        )
    cluster = started[0]
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close(timeout=timeout)


def run_batches(
    executor: Executor,
    slots: int,
    function: Callable[..., T],
    calls: Sequence[Mapping[str, Any]],
    shared: Any = None,
) -> list[T]:
    """Send ``calls`` to any ``executor`` in batches; the results in call order.

    Parameters
    ----------
    executor : Executor
        Where the batches run.
    slots : int
        How many calls it runs at once (the batch size follows from it).
    function, calls
        As in `map_calls`.
    shared : mapping, Dask future or None
        The shared keyword arguments sent with every batch (a Dask future is resolved on
        the worker); None: those installed in the worker by `_install`.
    """
    size = max(1, len(calls) // (max(1, slots) * BATCHES_PER_WORKER))
    batches = [list(calls[i : i + size]) for i in range(0, len(calls), size)]
    futures = [executor.submit(_run_batch, function, shared, batch) for batch in batches]
    return [result for future in futures for result in future.result()]


_SHARED: dict[str, Any] = {}


def _install(shared: dict[str, Any]) -> None:
    """Keep ``shared`` in this local worker for the batches that follow."""
    global _SHARED
    _SHARED = shared


def _run_batch(
    function: Callable[..., T],
    shared: Mapping[str, Any] | None,
    batch: Sequence[Mapping[str, Any]],
) -> list[T]:
    """Run one batch with BLAS at one thread; ``shared`` None means the installed one."""
    arguments = _SHARED if shared is None else shared
    with threadpool_limits(limits=BLAS_THREADS):
        return [function(**arguments, **call) for call in batch]
