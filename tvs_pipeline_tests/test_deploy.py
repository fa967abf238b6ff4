"""The deployment pieces under deploy/: what can be checked without a cluster.

The YAML parses; every key docs/runbook.md §9 relies on is there; the chart's values and the
plain dagster.yaml agree on the run queue; the code image installs what the instance names;
and the Postgres + queued-coordinator part of deploy/dagster.yaml loads as a real instance
(when a PostgreSQL server runs on 127.0.0.1, as in CI). The K8sRunLauncher, the S3 compute
logs and the chart itself need a cluster: they are not run here.
"""

from __future__ import annotations

import socket
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tvs_pipeline.defs.backfill import BACKFILL_PATH, PATH_TAG
from tvs_pipeline.settings import load_settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
LIMITS = [
    {"key": PATH_TAG, "value": "champion", "limit": 1},
    {"key": PATH_TAG, "value": BACKFILL_PATH, "limit": 6},
]


def load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def _postgres() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("name", ["dagster.yaml", "values.yaml", "tvs-pipeline-env.yaml"])
def test_every_yaml_parses_to_a_mapping(name):
    assert isinstance(load(name), dict)


def test_the_instance_has_postgres_the_queue_k8s_runs_and_s3_logs():
    config = load("dagster.yaml")
    db = config["storage"]["postgres"]["postgres_db"]
    assert {"username", "password", "hostname", "db_name", "port"} <= set(db)
    assert db["scheme"] == "postgresql+psycopg2"
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_coordinator"]["config"]["tag_concurrency_limits"] == LIMITS
    assert (config["run_launcher"]["module"], config["run_launcher"]["class"]) == (
        "dagster_k8s",
        "K8sRunLauncher",
    )
    assert "tvs-pipeline-env" in config["run_launcher"]["config"]["env_config_maps"]
    assert config["compute_logs"]["class"] == "S3ComputeLogManager"
    assert config["run_monitoring"]["enabled"] is True


def test_the_chart_values_agree_with_the_instance():
    values, config = load("values.yaml"), load("dagster.yaml")
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    queue = values["dagsterDaemon"]["runCoordinator"]
    assert queue["type"] == "QueuedRunCoordinator"
    queued = queue["config"]["queuedRunCoordinator"]
    assert queued["tagConcurrencyLimits"] == LIMITS
    assert queued["maxConcurrentRuns"] == config["run_coordinator"]["config"]["max_concurrent_runs"]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("--module-name") + 1] == "tvs_pipeline.definitions"
    assert args[args.index("--attribute") + 1] == "defs"
    assert {"name": "tvs-pipeline-env"} in deployment["envConfigMaps"]
    assert values["postgresql"]["enabled"] is False
    assert values["computeLogManager"]["type"] == "S3ComputeLogManager"


def test_the_environment_config_map_is_valid_settings():
    env = load("tvs-pipeline-env.yaml")["data"]
    settings = load_settings(env)
    assert settings.lake_root == env["TVS_LAKE"]
    assert settings.ledger == env["TVS_LEDGER"] and ":" not in env["TVS_LEDGER"].split("@")[0][13:]
    assert settings.chunk_days == int(env["TVS_CHUNK_DAYS"])
    assert settings.dask_scheduler == env["TVS_DASK_SCHEDULER"]
    config = load("dagster.yaml")["storage"]["postgres"]["postgres_db"]
    named = {v["env"] for v in config.values() if isinstance(v, dict)}
    assert named - {"TVS_PG_PASSWORD"} <= set(env)  # the password is in the secret


def test_the_code_image_installs_what_the_instance_names():
    text = (DEPLOY / "Dockerfile").read_text()
    assert '".[postgres,s3,dask]"' in text
    assert "dagster-k8s" in text and "dagster-aws" in text
    assert "COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml" in text
    assert '"tvs_pipeline.definitions"' in text and '"code-server", "start"' in text


@pytest.mark.skipif(not _postgres(), reason="no PostgreSQL server on 127.0.0.1:5432")
def test_the_postgres_and_queue_part_loads_as_a_real_instance(tmp_path, monkeypatch):
    config = load("dagster.yaml")
    # What needs a cluster (the K8s launcher, the S3 compute logs) is left out.
    local = {k: v for k, v in config.items() if k not in ("run_launcher", "compute_logs")}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(local))
    for name, value in {
        "TVS_PG_USER": "tvs",
        "TVS_PG_PASSWORD": "tvs",
        "TVS_PG_HOST": "127.0.0.1",
        "TVS_PG_DB": "tvs_dagster",
    }.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        coordinator = instance.run_coordinator
        assert type(coordinator).__name__ == "QueuedRunCoordinator"
        queue = coordinator.get_run_queue_config()
        assert queue.max_concurrent_runs == 8
        limits = [dict(limit) for limit in queue.tag_concurrency_limits]
        assert limits == LIMITS
        instance.get_runs(limit=1)  # the schema is there
