"""A backfill whose days are spread over a real Dask cluster equals the in-process backfill.

A ``LocalCluster`` of two worker processes on 127.0.0.1 stands for a cluster of machines: the
steps reach it by its scheduler address only (``$TVS_DASK_SCHEDULER``), as they would reach a
remote one. Skipped without dask distributed (it is in the ``dev`` extra).
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

from tvs_pipeline.defs.runner import run_job
from tvs_pipeline.parallel import local_cluster
from tvs_pipeline.settings import load_settings

distributed = pytest.importorskip("distributed")

FIRST, LAST = "2025-06-11", "2025-06-30"  # 20 days: more than MIN_PARALLEL_CALLS
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def lake_equal():
    """benchmarks/lake_equal.py, the frame-by-frame lake comparison."""
    spec = importlib.util.spec_from_file_location("lake_equal", BENCHMARKS / "lake_equal.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _batches_done(dask_scheduler) -> int:
    prefix = dask_scheduler.task_prefixes.get("run_batch")
    return 0 if prefix is None else int(prefix.state_counts["memory"])


def backfill(settings) -> None:
    """The champion path over the 20 days as one run (the shadow path runs the same helper)."""
    outcome = run_job(settings, "nightly", partition_range=(FIRST, LAST))
    assert outcome.success, outcome.failure


@pytest.mark.slow
@pytest.mark.heavy  # minutes: `pytest -m heavy`
def test_a_20_day_backfill_on_a_dask_cluster_equals_the_in_process_one(tmp_path, capsys):
    alone = replace(load_settings({"TVS_HOME": str(tmp_path / "alone")}), workers=1)
    backfill(alone)
    # Its start is bounded (a cluster that does not come up fails in one line).
    with local_cluster(2) as address, distributed.Client(address) as client:
        spread = replace(
            load_settings({"TVS_HOME": str(tmp_path / "spread")}), workers=1, dask_scheduler=address
        )
        backfill(spread)
        # The days went to the cluster: its workers finished batches of day calls.
        counted = client.run_on_scheduler(_batches_done)
    assert counted > 0, "no task reached the Dask workers"
    capsys.readouterr()
    assert lake_equal().compare(alone.home, spread.home) == 0, capsys.readouterr().out
