"""Day-parallel map: the same results, in call order, and a worker's error unchanged.

Each executor is real: forked local processes, and a Dask ``LocalCluster`` of two worker
processes on 127.0.0.1 (when dask distributed is installed, as in the ``dev`` extra).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError, DataError
from tvs_pipeline.parallel import map_calls


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


@pytest.fixture(scope="module")
def cluster():
    # Hung for 10+ minutes starting under `.ci/run` (2026-12-03 rehearsal) while the 20-day
    # Dask backfill (defs/test_dask_backfill.py) passed in the same run: opt-in until found.
    if os.environ.get("CI") and not os.environ.get("TVS_DASK_TESTS"):
        pytest.skip("Dask LocalCluster unit tests are opt-in under CI (TVS_DASK_TESTS=1)")
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as local:
        yield local.scheduler_address


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


def test_dask_cluster_gives_the_sequential_results(cluster):
    assert map_calls(scaled_sum, CALLS, min_calls=2, scheduler=cluster) == EXPECTED
    frame = pd.DataFrame({"x": [1, 2, 3]})
    calls = [{"factor": float(n)} for n in range(20)]
    shared = map_calls(scaled_sum, calls, min_calls=2, shared={"frame": frame}, scheduler=cluster)
    assert shared == [6.0 * n for n in range(20)]


def test_dask_workers_are_two_processes_with_one_blas_thread(cluster):
    found = map_calls(where_and_blas, [{"tag": n} for n in range(32)], scheduler=cluster)
    assert [tag for tag, _, _ in found] == list(range(32))
    pids = {pid for _, pid, _ in found}
    assert os.getpid() not in pids and len(pids) == 2
    assert {threads for _, _, threads in found} == {1}


def test_a_dask_worker_error_is_raised_to_the_caller(cluster):
    bad = {"frame": pd.DataFrame({"x": [1]}), "factor": -1}
    with pytest.raises(DataError, match="factor -1 below zero"):
        map_calls(scaled_sum, [*CALLS, bad], min_calls=2, scheduler=cluster)


def test_an_unreachable_scheduler_is_one_config_error():
    pytest.importorskip("distributed")
    with pytest.raises(ConfigError, match=r"TVS_DASK_SCHEDULER 'tcp://127.0.0.1:9': cannot reach"):
        map_calls(scaled_sum, CALLS, min_calls=2, scheduler="tcp://127.0.0.1:9")


# A module run as `python -m ...` whose import does the work, as `python -m dagster` starts
# Dagster's CLI when imported: a worker that re-imported this __main__ would run it again.
MAIN_AS_RUN_BY_THE_UI = """
import os, sys
from tvs_pipeline.parallel import map_calls

def square(v):
    return v * v

if os.environ.get("UI_PROOF_CHILD"):
    sys.exit("a worker re-imported __main__")
os.environ["UI_PROOF_CHILD"] = "1"
print(map_calls(square, [{"v": n} for n in range(20)], workers=2, min_calls=2,
                scheduler=sys.argv[1] if len(sys.argv) > 1 else ""))
"""


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_a_step_under_python_m_works_with_every_executor(tmp_path, cluster, executor):
    (tmp_path / "ui_main.py").write_text(MAIN_AS_RUN_BY_THE_UI)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("UI_PROOF_CHILD", None)
    command = [sys.executable, "-m", "ui_main", *([cluster] if executor == "dask" else [])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str([n * n for n in range(20)])
