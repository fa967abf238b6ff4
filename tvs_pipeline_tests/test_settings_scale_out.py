"""The scale-out settings: $TVS_DASK_SCHEDULER, $TVS_LEDGER and $TVS_CHUNK_DAYS."""

from __future__ import annotations

import pytest

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.settings import load_settings


def test_defaults_keep_everything_on_one_machine(tmp_path):
    settings = load_settings({"TVS_HOME": str(tmp_path)})
    assert settings.dask_scheduler == ""
    assert settings.chunk_days == 0
    assert settings.ledger == str(tmp_path / "ledger" / "audit.jsonl")


def test_each_variable_is_read(tmp_path):
    settings = load_settings(
        {
            "TVS_HOME": str(tmp_path),
            "TVS_DASK_SCHEDULER": "tcp://10.0.0.5:8786",
            "TVS_LEDGER": "postgresql://tvs@db.internal/tvs_dagster",
            "TVS_CHUNK_DAYS": "10",
        }
    )
    assert settings.dask_scheduler == "tcp://10.0.0.5:8786"
    assert settings.ledger == "postgresql://tvs@db.internal/tvs_dagster"
    assert settings.chunk_days == 10


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TVS_DASK_SCHEDULER", "cluster", "expected a scheduler address"),
        ("TVS_LEDGER", "/srv/ledger.jsonl", "expected a postgresql://user@host/db URL"),
        ("TVS_CHUNK_DAYS", "0", "expected an integer >= 1"),
        ("TVS_CHUNK_DAYS", "ten", "expected an integer >= 1"),
    ],
    ids=["scheduler-without-port", "ledger-not-postgres", "chunk-zero", "chunk-text"],
)
def test_a_bad_value_is_one_config_error_naming_the_variable(tmp_path, name, value, message):
    with pytest.raises(ConfigError, match=f"^{name}=.*{message}"):
        load_settings({"TVS_HOME": str(tmp_path), name: value})


def test_a_ledger_url_password_is_not_repeated_in_the_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings({"TVS_HOME": str(tmp_path), "TVS_LEDGER": "mysql://u:secret@h/db"})
    assert "secret" not in str(caught.value)
