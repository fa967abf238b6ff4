"""Environment settings: the only module that reads environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "load_settings"]

DEFAULT_HOME = "./data"
DEFAULT_PROFILE = "demo"


@dataclass(frozen=True)
class Settings:
    """Where the project keeps its state and which profile it runs.

    Attributes
    ----------
    home : Path
        ``$TVS_HOME``: the root of the lake, the DuckDB catalog, the Dagster instance and reports.
    lake_root : str
        Root of the Parquet lake; a local path or an fsspec URL (``s3://bucket/lake``).
    profile : str
        Name of the profile run by default (``$TVS_PROFILE``).
    source : str or None
        Market source overriding the profile's (``$TVS_SOURCE``), ``demo`` or ``tradingview``.
    """

    home: Path
    lake_root: str
    profile: str
    source: str | None

    @property
    def catalog_path(self) -> Path:
        """The DuckDB file with one view per asset."""
        return self.home / "tvs.duckdb"

    @property
    def dagster_home(self) -> Path:
        """The Dagster instance shared by ``tvs`` and ``dagster dev``."""
        return self.home / "dagster"

    @property
    def reports_dir(self) -> Path:
        """Where human-readable reports are written."""
        return self.home / "reports"

    @property
    def ledger_dir(self) -> Path:
        """Where the hash-chained audit ledger lives (local or shared disk)."""
        return self.home / "ledger"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read ``TVS_HOME``, ``TVS_LAKE``, ``TVS_PROFILE`` and ``TVS_SOURCE`` from the environment.

    Parameters
    ----------
    env : dict, optional
        The environment to read; ``os.environ`` when omitted.

    Returns
    -------
    Settings
        Absolute paths; the lake defaults to ``$TVS_HOME/lake``.
    """
    env = dict(os.environ if env is None else env)
    home = Path(env.get("TVS_HOME") or DEFAULT_HOME).expanduser().resolve()
    lake_root = env.get("TVS_LAKE") or str(home / "lake")
    return Settings(
        home=home,
        lake_root=lake_root,
        profile=env.get("TVS_PROFILE") or DEFAULT_PROFILE,
        source=env.get("TVS_SOURCE") or None,
    )
