"""The instance `tvs` runs on: its configuration, its first-time setup, its orphaned runs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

import tvs_pipeline
from tvs_pipeline.defs.runner import (
    DAGSTER_YAML,
    HOST_TAG,
    PID_TAG,
    PROCESS_START_TAG,
    fail_orphaned_runs,
    prepare_instance,
    process_alive,
    process_start,
)
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.lake.ledger import read_records
from tvs_pipeline.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_tvs_instance_config_loads(tmp_path):
    home = prepare_instance(load_settings({"TVS_HOME": str(tmp_path)}))
    text = (home / "dagster.yaml").read_text()
    assert text == DAGSTER_YAML.replace("{home}", str(home.resolve()))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        logs = instance.compute_log_manager
        assert type(logs).__name__ == "StepLogManager"
        # where the run page reads a step's stdout: under the instance, whatever the cwd
        path = logs.get_captured_local_path(["r", "compute_logs", "k"], "out")
        assert Path(path).is_relative_to(home.resolve() / "storage")


def test_an_instance_set_up_before_step_logs_gets_them(tmp_path):
    home = prepare_instance(load_settings({"TVS_HOME": str(tmp_path)}))
    old = "# Written by `tvs` on first use\ncompute_logs:\n  module: dagster._core.storage."
    old += "noop_compute_log_manager\n  class: NoOpComputeLogManager\n"
    (home / "dagster.yaml").write_text(old)
    prepare_instance(load_settings({"TVS_HOME": str(tmp_path)}))
    assert "StepLogManager" in (home / "dagster.yaml").read_text()


def test_repository_dagster_yaml_loads_and_matches(tmp_path):
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_retries_enabled
    ours, shipped = (
        yaml.safe_load(DAGSTER_YAML),
        yaml.safe_load((ROOT / "dagster.yaml").read_text()),
    )
    for key in ("telemetry", "nux", "concurrency", "run_retries"):
        assert ours[key] == shipped[key], key
    logs = ("module", "class")  # the base_dir: the instance's own, and data/dagster's
    assert [ours["compute_logs"][k] for k in logs] == [shipped["compute_logs"][k] for k in logs]
    assert shipped["compute_logs"]["config"]["base_dir"] == "data/dagster/storage"


# ------------------------------------------- first-time setup happens once (issue 18.7)
RACE = """
import sys, time
import dagster as dg
from tvs_pipeline.defs.runner import prepare_instance
from tvs_pipeline.settings import load_settings

homes, go, interval = sys.argv[1].split(","), float(sys.argv[2]), float(sys.argv[3])
failures = 0
for round_, home in enumerate(homes):
    time.sleep(max(0.0, go + round_ * interval - time.time()))
    try:  # what `tvs run` does first: set the instance up, open it, read its runs
        path = prepare_instance(load_settings({"TVS_HOME": home}))
        with dg.DagsterInstance.from_config(str(path)) as instance:
            instance.get_runs(limit=1)
    except Exception as err:
        failures += 1
        print(type(err).__name__, str(err).splitlines()[0])
sys.exit(1 if failures else 0)
"""


def test_processes_starting_at_once_in_a_fresh_home_all_start(tmp_path):
    # Before: 2 of 9 such starts failed (`table alembic_version already exists`, `Online
    # migration expected to match one row`): each process created the SQLite schemas.
    homes = ",".join(str(tmp_path / f"home{i}") for i in range(4))
    code_root = str(Path(tvs_pipeline.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": code_root}
    go = time.time() + 10.0  # every process has imported Dagster by then
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, homes, str(go), "2.0"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [start.communicate(timeout=120)[0] for start in starts]
    assert [start.returncode for start in starts] == [0, 0, 0], outputs
    for i in range(4):
        with dg.DagsterInstance.from_config(str(tmp_path / f"home{i}" / "dagster")) as instance:
            assert instance.get_runs() == []


def test_setup_names_a_home_that_cannot_hold_the_instance(tmp_path):
    blocker = tmp_path / "home"
    blocker.write_text("a file, not a directory")
    with pytest.raises(ConfigError, match=f"TVS_HOME {blocker}: .*Not a directory"):
        prepare_instance(load_settings({"TVS_HOME": str(blocker)}))


# --------------------------------------- runs whose process is gone are failed (issue 18.6)
@dg.op
def _noop() -> None:
    pass


@dg.job
def _tiny() -> None:
    _noop()


def _gone_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_unfinished_runs_of_this_host_whose_process_is_gone_are_failed(tmp_path):
    ledger = tmp_path / "ledger" / "audit.jsonl"
    host, me = socket.gethostname(), os.getpid()
    mine = {HOST_TAG: host, PID_TAG: str(me), PROCESS_START_TAG: process_start(me)}
    gone = _gone_pid()
    started = dg.DagsterRunStatus.STARTED
    cases = {
        "killed": (started, mine | {PID_TAG: str(gone), PROCESS_START_TAG: ""}),
        "pid-reused": (started, mine | {PROCESS_START_TAG: "1"}),
        "starting": (dg.DagsterRunStatus.STARTING, mine | {PID_TAG: str(gone)}),
        "alive": (started, mine),
        "elsewhere": (started, mine | {HOST_TAG: f"not-{host}", PID_TAG: str(gone)}),
        "untagged": (started, {}),
        "finished": (dg.DagsterRunStatus.SUCCESS, mine | {PID_TAG: str(gone)}),
    }
    with dg.instance_for_test() as instance:
        ids = {
            name: instance.create_run_for_job(_tiny, status=status, tags=tags).run_id
            for name, (status, tags) in cases.items()
        }
        failed = fail_orphaned_runs(instance, ledger)
        statuses = {name: instance.get_run_by_id(run_id).status for name, run_id in ids.items()}
        assert sorted(failed) == sorted(ids[n] for n in ("killed", "pid-reused", "starting"))
        assert fail_orphaned_runs(instance, ledger) == []  # judged once
    failure = dg.DagsterRunStatus.FAILURE
    assert statuses == {
        "killed": failure,
        "pid-reused": failure,
        "starting": failure,
        "alive": started,
        "elsewhere": started,
        "untagged": started,
        "finished": dg.DagsterRunStatus.SUCCESS,
    }
    outcomes = [r["payload"] for r in read_records(ledger) if r["kind"] == "run_outcome"]
    assert sorted(o["run_id"] for o in outcomes) == sorted(failed)
    assert {o["status"] for o in outcomes} == {"FAILURE"}
    assert all(f"on {host} ended without finishing the run" in o["failure"] for o in outcomes)


def test_process_alive_tells_a_reused_pid_from_the_run_process():
    me = os.getpid()
    assert process_alive(me) and process_alive(me, process_start(me))
    assert not process_alive(_gone_pid())
    if process_start(me):  # Linux: /proc tells when a process started
        assert not process_alive(me, "1")
