"""Day-parallel map: the same results, in call order, and a worker's error unchanged.

Each executor is real: forked local processes, and a Dask ``LocalCluster`` of two worker
processes on 127.0.0.1 (when dask distributed is installed, as in the ``dev`` extra).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.parallel import local_cluster, map_calls


def scaled_sum(frame: pd.DataFrame, factor: float) -> float:
    if factor < 0:
        raise DataError(f"factor {factor} below zero")
    return float(frame["x"].sum() * factor)


def where_and_blas(tag: int) -> tuple[int, int, int]:
    """The worker's pid and the BLAS threads it runs with (threadpoolctl's view)."""
    from threadpoolctl import threadpool_info

    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return tag, os.getpid(), max(blas, default=1)


CALLS = [{"frame": pd.DataFrame({"x": range(n)}), "factor": 0.5 * n} for n in range(24)]
# By hand: sum(range(n)) * 0.5 n = n (n - 1) / 2 * n / 2.
EXPECTED = [n * (n - 1) / 2 * n / 2 for n in range(24)]


# The Dask tests send functions every worker has installed (json, dict, os, numpy,
# threadpoolctl), never this module's: pytest imports it from its path, so a worker cannot
# import it, fails to read the task, and Dask never answers for it. That was the CI hang of
# 2026-12-03 (`map_calls` now refuses such a function in one line, tested below).
DASK_TEST_SECONDS = 60  # each Dask test and the cluster's start; a few seconds when well


@contextlib.contextmanager
def deadline(seconds: float, what: str):
    """Raise TimeoutError in the block after ``seconds``: a hang becomes one failure."""

    def expire(signum, frame):
        raise TimeoutError(f"{what}: not done within {seconds:.0f}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("distributed")
    with local_cluster(2, timeout=DASK_TEST_SECONDS) as address:
        yield address


@pytest.fixture
def bounded(request):
    with deadline(DASK_TEST_SECONDS, request.node.name):
        yield


def test_parallel_results_equal_sequential_ones_in_call_order():
    sequential = map_calls(scaled_sum, CALLS, workers=1)
    assert sequential == EXPECTED
    assert map_calls(scaled_sum, CALLS, workers=2, min_calls=2) == EXPECTED


def test_a_worker_error_is_raised_to_the_caller():
    bad = {"frame": pd.DataFrame({"x": [1]}), "factor": -1}
    with pytest.raises(DataError, match="factor -1 below zero"):
        map_calls(scaled_sum, [*CALLS, bad], workers=2, min_calls=2)


def test_few_calls_stay_in_the_calling_process():
    # A lambda cannot be pickled: it only works because two calls run here, not in workers.
    assert map_calls(lambda v: v + 1, [{"v": 1}, {"v": 2}], workers=2) == [2, 3]


@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "two-workers"])
def test_shared_arguments_join_every_call_by_keyword(workers):
    frame = pd.DataFrame({"x": [1, 2, 3]})
    calls = [{"factor": float(n)} for n in range(20)]
    expected = [6.0 * n for n in range(20)]
    shared = {"frame": frame}
    assert map_calls(scaled_sum, calls, workers=workers, min_calls=2, shared=shared) == expected


def test_local_workers_are_other_processes_with_one_blas_thread():
    np.ones((2, 2)) @ np.ones((2, 2))  # BLAS loaded in the parent, inherited by the fork
    found = map_calls(where_and_blas, [{"tag": n} for n in range(16)], workers=2, min_calls=2)
    assert [tag for tag, _, _ in found] == list(range(16))
    assert os.getpid() not in {pid for _, pid, _ in found}
    assert {threads for _, _, threads in found} == {1}


JSON_CALLS = [{"s": f"[{n}, {n * n}]"} for n in range(24)]


def test_dask_cluster_gives_the_sequential_results(cluster, bounded):
    found = map_calls(json.loads, JSON_CALLS, min_calls=2, scheduler=cluster)
    assert found == [[n, n * n] for n in range(24)]
    frame = pd.DataFrame({"x": [1, 2, 3]})
    calls = [{"factor": float(n)} for n in range(20)]
    joined = map_calls(dict, calls, min_calls=2, shared={"frame": frame}, scheduler=cluster)
    assert [call["factor"] for call in joined] == [float(n) for n in range(20)]
    for call in joined:  # the shared frame reached every call, by keyword
        pd.testing.assert_frame_equal(call["frame"], frame)


def test_dask_workers_are_two_processes_with_one_blas_thread(cluster, bounded):
    pids = set(map_calls(os.getpid, [{}] * 32, scheduler=cluster))
    assert os.getpid() not in pids and len(pids) == 2
    assert map_calls(np.ones, [{"shape": 2}] * 32, scheduler=cluster)[0].tolist() == [1, 1]
    found = map_calls(threadpool_info, [{}] * 32, scheduler=cluster)  # numpy's BLAS loaded
    blas = {pool["num_threads"] for pools in found for pool in pools if pool["user_api"] == "blas"}
    assert blas == {1}


def test_a_dask_worker_error_is_raised_to_the_caller(cluster, bounded):
    with pytest.raises(json.JSONDecodeError, match="Expecting value: line 1 column 1"):
        map_calls(json.loads, [*JSON_CALLS, {"s": "no json"}], min_calls=2, scheduler=cluster)


UNSHIPPED = """
def double(v):
    return 2 * v
"""


def test_a_function_the_workers_cannot_import_is_one_config_error(tmp_path, cluster, bounded):
    # A module this process imported from a path the workers do not have.
    (tmp_path / "tvs_unshipped_days.py").write_text(UNSHIPPED)
    path = tmp_path / "tvs_unshipped_days.py"
    spec = importlib.util.spec_from_file_location("tvs_unshipped_days", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pickled by reference, as an installed module would be
    try:
        spec.loader.exec_module(module)
        assert map_calls(module.double, [{"v": n} for n in range(20)], min_calls=2) == [
            2 * n for n in range(20)
        ]  # here it works
        with pytest.raises(ConfigError, match=r"2 of 2 workers cannot import tvs_unshipped_days"):
            map_calls(module.double, [{"v": n} for n in range(20)], min_calls=2, scheduler=cluster)
    finally:
        del sys.modules[spec.name]


def test_an_unreachable_scheduler_is_one_config_error():
    pytest.importorskip("distributed")
    with pytest.raises(ConfigError, match=r"TVS_DASK_SCHEDULER 'tcp://127.0.0.1:9': cannot reach"):
        map_calls(scaled_sum, CALLS, min_calls=2, scheduler="tcp://127.0.0.1:9")


# A module run as `python -m ...` whose import does the work, as `python -m dagster` starts
# Dagster's CLI when imported: a worker that re-imported this __main__ would run it again.
MAIN_AS_RUN_BY_THE_UI = """
import os, sys
from tvs_pipeline.parallel import local_cluster, map_calls

def square(v):
    return v * v

if os.environ.get("UI_PROOF_CHILD"):
    sys.exit("a worker re-imported __main__")
os.environ["UI_PROOF_CHILD"] = "1"
print(map_calls(square, [{"v": n} for n in range(20)], workers=2, min_calls=2,
                scheduler=sys.argv[1] if len(sys.argv) > 1 else ""))
"""


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_a_step_under_python_m_works_with_every_executor(tmp_path, cluster, bounded, executor):
    (tmp_path / "ui_main.py").write_text(MAIN_AS_RUN_BY_THE_UI)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("UI_PROOF_CHILD", None)
    command = [sys.executable, "-m", "ui_main", *([cluster] if executor == "dask" else [])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str([n * n for n in range(20)])
