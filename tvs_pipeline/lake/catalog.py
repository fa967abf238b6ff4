"""DuckDB over the lake: windowed reads for assets, and the user-facing catalog of views."""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import fsspec
import pandas as pd
from filelock import FileLock

from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.storage import PARTITION_COLUMN, as_day, asset_glob, is_local

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "LakeReader",
    "query_catalog",
    "refresh_catalog",
]

ASSET_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
DATE_COLUMNS = ("date", "market_date", "first_date", "last_date")


def _connect(
    root: str, database: str = ":memory:", read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that can read the lake root (fsspec registered for remote roots).

    DuckDB's own S3 reader (httpfs) is not bundled and cannot be installed offline; fsspec
    reads ``s3://`` with the standard ``AWS_*`` settings instead. DuckDB is imported here, when
    a read needs it, not when the definitions load.
    """
    import duckdb

    con = duckdb.connect(database, read_only=read_only)
    if not is_local(root):
        fs, _ = fsspec.core.url_to_fs(root)
        con.register_filesystem(fs)
    return con


def _normalise_dates(frame: pd.DataFrame) -> pd.DataFrame:
    for column in DATE_COLUMNS:
        if column in frame.columns:
            frame[column] = as_day(frame[column])
    return frame


class LakeReader:
    """Read-only, windowed SQL reads over the Parquet lake.

    Assets read through an in-memory DuckDB rather than the catalog file: a read-only open of
    ``tvs.duckdb`` fails while another step refreshes its views, and the globs are the truth.

    Parameters
    ----------
    root : str
        Lake root: a local path or an fsspec URL.
    """

    def __init__(self, root: str) -> None:
        self.root = str(root).rstrip("/")

    def has_asset(self, asset: str) -> bool:
        """Whether the asset has at least one partition file."""
        fs, path = fsspec.core.url_to_fs(asset_glob(self.root, asset))
        return bool(fs.glob(path))

    def read(
        self,
        asset: str,
        *,
        where: str = "true",
        params: list[object] | None = None,
        columns: str = "*",
        frames: dict[str, pd.DataFrame] | None = None,
    ) -> pd.DataFrame | None:
        """Run ``select <columns> from <asset> where <where>`` over every partition.

        ``frames`` are registered as tables for joins (e.g. a list of symbols). Returns None when
        the asset has no partition yet. The partition column is ``date``.
        """
        if not ASSET_NAME.match(asset):
            raise DataError(f"asset {asset!r}: not a valid asset name")
        if not self.has_asset(asset):
            return None
        import duckdb

        con = _connect(self.root)
        try:
            for name, frame in (frames or {}).items():
                con.register(name, frame)
            source = (
                f"read_parquet('{asset_glob(self.root, asset)}', hive_partitioning = true, "
                f"union_by_name = true)"
            )
            sql = f"select {columns} from {source} as {asset} where {where}"
            result = con.execute(sql, params or []).df()
        except duckdb.Error as err:
            raise DataError(f"lake read of {asset}: {str(err).splitlines()[0]}") from err
        finally:
            con.close()
        return _normalise_dates(result)

    def read_days(self, asset: str, start: date, end: date) -> pd.DataFrame | None:
        """Every row of the partitions dated in ``[start, end]``."""
        return self.read(
            asset,
            where=f"{PARTITION_COLUMN} between ? and ?",
            params=[pd.Timestamp(start).date(), pd.Timestamp(end).date()],
        )


def refresh_catalog(catalog_path: Path, root: str, assets: list[str]) -> None:
    """Create or replace one view per asset in the DuckDB catalog file, under a file lock.

    Views are over globs, so new partitions show up without a refresh; a refresh is needed when
    an asset's first partition appears. Remote lakes get views too, read through fsspec.
    """
    catalog_path = Path(catalog_path)
    catalog_path.parent.mkdir(parents=True, exist_ok=True)
    reader = LakeReader(root)
    present = [a for a in assets if ASSET_NAME.match(a) and reader.has_asset(a)]
    if not present:
        return
    with FileLock(str(catalog_path) + ".lock", timeout=120):
        con = _connect(root, str(catalog_path))
        try:
            for asset in present:
                con.execute(
                    f"create or replace view {asset} as select * from read_parquet("
                    f"'{asset_glob(root, asset)}', hive_partitioning = true, union_by_name = true)"
                )
        finally:
            con.close()


def query_catalog(catalog_path: Path, root: str, sql: str, retries: int = 20) -> pd.DataFrame:
    """Run a user's SQL against the catalog (read-only), waiting briefly for a writer to finish.

    Raises
    ------
    DataError
        The catalog does not exist yet, or the SQL fails (the message is DuckDB's first line).
    """
    import duckdb

    catalog_path = Path(catalog_path)
    if not catalog_path.exists():
        raise DataError(f"{catalog_path}: no catalog yet (run `tvs run` first)")
    for attempt in range(retries):
        try:
            con = _connect(root, str(catalog_path), read_only=True)
            break
        except duckdb.IOException:
            if attempt == retries - 1:
                raise
            time.sleep(0.25)
    try:
        return con.execute(sql).df()
    except duckdb.Error as err:
        raise DataError(f"sql: {str(err).splitlines()[0]}") from err
    finally:
        con.close()
