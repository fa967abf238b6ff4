"""The nightly job on a Postgres-backed Dagster instance (when a server runs on 127.0.0.1).

`.ci/run` installs PostgreSQL from Debian's packages and creates the `tvs` role and the
`tvs_dagster` database, so this runs in CI; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import socket

import dagster as dg
import pytest
import yaml

from tvs_pipeline.definitions import build_definitions

HOST, PORT = "127.0.0.1", 5432


def _reachable() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _reachable(), reason="no PostgreSQL server on 127.0.0.1:5432")


def test_nightly_on_a_postgres_instance(settings, tmp_path):
    config = {
        "storage": {
            "postgres": {
                "postgres_db": {
                    "username": "tvs",
                    "password": "tvs",
                    "hostname": HOST,
                    "port": PORT,
                    "db_name": "tvs_dagster",
                    # SQLAlchemy 2.1 would otherwise pick psycopg 3 (dagster issue 33958).
                    "scheme": "postgresql+psycopg2",
                }
            }
        },
        "telemetry": {"enabled": False},
    }
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    defs = build_definitions(settings)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        result = defs.resolve_job_def("nightly").execute_in_process(
            partition_key="2025-06-30", instance=instance
        )
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.is_success
        keys = instance.get_materialized_partitions(dg.AssetKey("performance_report"))
        assert "2025-06-30" in keys
