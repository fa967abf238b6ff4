"""The instance configuration `tvs` writes, and the repository's dagster.yaml, both load."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import yaml

from tvs_pipeline.defs.runner import DAGSTER_YAML, prepare_instance
from tvs_pipeline.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_tvs_instance_config_loads(tmp_path):
    home = prepare_instance(load_settings({"TVS_HOME": str(tmp_path)}))
    assert (home / "dagster.yaml").read_text() == DAGSTER_YAML
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1


def test_repository_dagster_yaml_loads_and_matches(tmp_path):
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_retries_enabled
    ours, shipped = (
        yaml.safe_load(DAGSTER_YAML),
        yaml.safe_load((ROOT / "dagster.yaml").read_text()),
    )
    for key in ("telemetry", "nux", "compute_logs", "concurrency", "run_retries"):
        assert ours[key] == shipped[key], key
