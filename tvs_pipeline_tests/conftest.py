"""Shared fixtures: a temporary TVS_HOME and the settings rooted there."""

from __future__ import annotations

import pytest

from tvs_pipeline.settings import Settings, load_settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return load_settings({"TVS_HOME": str(tmp_path / "home")})
