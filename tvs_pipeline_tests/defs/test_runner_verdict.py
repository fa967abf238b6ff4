"""A failed step says where its error came from: the instance's storage is named."""

import sqlite3
from pathlib import Path

import dagster as dg
import pytest

from tvs_pipeline.defs.runner import _verdict


def _failing_run(error: Exception) -> dg.ExecuteInProcessResult:
    @dg.op
    def report():
        raise error

    @dg.job
    def nightly():
        report()

    return nightly.execute_in_process(raise_on_error=False)


@pytest.mark.parametrize(
    ("error", "named"),
    [
        (sqlite3.OperationalError("database or disk is full"), True),
        (ValueError("no bars for 2026-06-30"), False),
    ],
    ids=["instance-storage", "domain"],
)
def test_a_step_failure_names_the_instance_only_when_its_storage_failed(error, named):
    home = Path("/srv/tvs/dagster")
    verdict = _verdict("run", _failing_run(error), home=home)
    assert not verdict.success
    prefix = f"report: Dagster instance {home}: " if named else "report: "
    assert verdict.failure.startswith(prefix) and verdict.failure.endswith(str(error))
    assert ("Dagster instance" in verdict.failure) == named
