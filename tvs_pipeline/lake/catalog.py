"""DuckDB over the lake: windowed reads for assets, and confined read-only SQL for `tvs sql`."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

import fsspec
import pandas as pd

from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.storage import PARTITION_COLUMN, as_day, is_local

if TYPE_CHECKING:
    import duckdb
    from fsspec import AbstractFileSystem

__all__ = [
    "LakeReader",
    "describe_duckdb_error",
    "lake_assets",
    "lake_files",
    "query_lake",
    "quote_identifier",
    "select_statements",
]

ASSET_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
DATE_COLUMNS = ("date", "market_date", "first_date", "last_date")
# A partition file below its asset's folder; anything else there (a writer's temporary file
# beside its target, a stray folder) is not part of the lake.
PARTITION_FILE = re.compile(rf"^{PARTITION_COLUMN}=\d{{4}}-\d{{2}}-\d{{2}}/part\.parquet$")
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (an embedded ``"`` doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _lake_fs(root: str) -> tuple[AbstractFileSystem, str, str]:
    """The root's filesystem, its path there, and the root as DuckDB is given it.

    A local root is given to DuckDB as an absolute path; a remote one as its URL as the
    filesystem spells it (DuckDB reads it through the fsspec filesystem `_connect` registers,
    which reports its files in that spelling, and checks ``allowed_directories`` on it).

    Raises
    ------
    DataError
        A folder of the root is named ``key=value``: DuckDB's hive partitioning would read it
        as a column of every asset (and a ``date=`` folder would replace the partition date).
    """
    fs, path = fsspec.core.url_to_fs(str(root))
    path = path.rstrip("/") or "/"
    for part in path.split("/"):
        if "=" in part:
            raise DataError(
                f"lake root {root}: folder {part!r} has '=', which reads as a partition column; "
                f"expected a root without key=value folders"
            )
    base = path if is_local(str(root)) else fs.unstrip_protocol(path)
    return fs, path, base


def lake_assets(root: str) -> list[str]:
    """Names of the asset folders under the lake root, sorted (none when there is no lake)."""
    fs, path, _ = _lake_fs(root)
    try:
        entries = fs.ls(path, detail=True)
    except FileNotFoundError:
        return []
    names = (e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e["type"] == "directory")
    return sorted(n for n in names if ASSET_NAME.match(n))


def lake_files(root: str, asset: str) -> list[str]:
    """Every partition file of an asset, sorted by day, as DuckDB is to read them.

    The listing is fsspec's, not a glob: a root holding ``[``, ``*`` or ``'`` is a name,
    never a pattern or a piece of SQL.
    """
    if not ASSET_NAME.match(asset):
        raise DataError(f"asset {asset!r}: not a valid asset name")
    fs, path, base = _lake_fs(root)
    folder = f"{path.rstrip('/')}/{asset}"
    try:
        found = fs.find(folder)
    except FileNotFoundError:
        return []
    relative = (str(p)[len(folder) + 1 :] for p in found if str(p).startswith(folder + "/"))
    return sorted(f"{base.rstrip('/')}/{asset}/{r}" for r in relative if PARTITION_FILE.match(r))


def _connect(root: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that can read the lake root (fsspec for remote roots).

    DuckDB's own S3 reader (httpfs) is not bundled and cannot be installed offline; fsspec
    reads ``s3://`` with the standard ``AWS_*`` settings instead. DuckDB is imported here, when
    a read needs it, not when the definitions load.
    """
    import duckdb

    con = duckdb.connect(":memory:")
    if not is_local(root):
        fs, _ = fsspec.core.url_to_fs(root)
        con.register_filesystem(fs)
    return con


def _parquet_source(con: duckdb.DuckDBPyConnection, asset: str, files: list[str]) -> str:
    """SQL that reads the asset's files, the partition column from their ``date=`` folder.

    The file list is bound as a parameter into a session variable and the SQL names only the
    variable: no path is ever pasted into SQL, and the files are bound once, at query time
    (a relation built through the Python API would read every footer twice). Files that
    gained a column read it as NULL in older ones.
    """
    if not ASSET_NAME.match(asset):
        raise DataError(f"asset {asset!r}: not a valid asset name")
    variable = f"lake_files_{asset}"  # a name of [a-z0-9_] only
    con.execute(f"set variable {variable} = ?", [files])
    return (
        f"read_parquet(getvariable('{variable}'), hive_partitioning = true, union_by_name = true)"
    )


def describe_duckdb_error(err: Exception) -> str:
    """A DuckDB error on one line: its message, then the query line it points at.

    DuckDB writes a message, a blank line, ``LINE n: <query text>`` and a caret line under
    the spot; the caret line alone means nothing on one line, so it is dropped.
    """
    message: list[str] = []
    where = ""
    for line in str(err).splitlines():
        text = line.strip()
        found = re.match(r"LINE (\d+): ?(.*)", text)
        if found:
            where = f" (at line {found[1]}: {found[2].strip()})"
            break
        if text:
            message.append(text)
    return " ".join(message) + where


def _normalise_dates(frame: pd.DataFrame) -> pd.DataFrame:
    for column in DATE_COLUMNS:
        if column in frame.columns:
            frame[column] = as_day(frame[column])
    return frame


class LakeReader:
    """Read-only, windowed SQL reads over the Parquet lake.

    Each read lists the asset's partition files and reads them in an in-memory DuckDB: no
    file is shared with writers or other readers, so a read never waits on a lock and never
    holds one.

    Parameters
    ----------
    root : str
        Lake root: a local path or an fsspec URL.
    """

    def __init__(self, root: str) -> None:
        self.root = str(root).rstrip("/") or "/"

    def has_asset(self, asset: str) -> bool:
        """Whether the asset has at least one partition file."""
        return bool(lake_files(self.root, asset))

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
        files = lake_files(self.root, asset)
        if not files:
            return None
        import duckdb

        con = _connect(self.root)
        try:
            for name, frame in (frames or {}).items():
                con.register(name, frame)
            source = _parquet_source(con, asset, files)
            sql = f"select {columns} from {source} as {quote_identifier(asset)} where {where}"
            result = con.execute(sql, params or []).df()
        except duckdb.Error as err:
            raise DataError(f"lake read of {asset}: {describe_duckdb_error(err)}") from err
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


def select_statements(con: duckdb.DuckDBPyConnection, sql: str) -> list[duckdb.Statement]:
    """Parse ``sql`` with DuckDB's own parser and check that it is one SELECT statement.

    ``DESCRIBE``, ``SHOW``, ``SUMMARIZE``, ``FROM t`` and ``VALUES`` parse as SELECT too.

    Raises
    ------
    DataError
        The SQL does not parse (DuckDB's message on one line), holds no statement or more
        than one, or one of another type (``COPY``, ``ATTACH``, ``SET``, ``LOAD``, ``CREATE``...).
    """
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as err:
        raise DataError(f"sql: {describe_duckdb_error(err)}") from err
    if not statements:
        raise DataError("sql: no statement; expected a SELECT")
    if len(statements) > 1:  # one result is printed: the others would be lost
        raise DataError(
            f"sql: {len(statements)} statements; `tvs sql` runs one SELECT at a time "
            "(run them one by one)"
        )
    for number, statement in enumerate(statements, start=1):
        if statement.type != duckdb.StatementType.SELECT:
            kind = statement.type.name
            raise DataError(
                f"sql: statement {number} is {kind}, not SELECT: `tvs sql` only reads the lake"
            )
    return statements


def _confine(con: duckdb.DuckDBPyConnection, root: str, spill: str) -> None:
    """Let the connection read the lake root and its own spill folder, nothing else, for good.

    ``allowed_directories`` must be set while external access is still on; after
    ``enable_external_access = false`` a file outside them (``read_csv('/etc/passwd')``,
    ``COPY ... TO '/tmp/x'``, ``ATTACH``, ``INSTALL``) is a permission error, and
    ``lock_configuration`` refuses any ``SET`` that would give access back.
    """
    _, _, base = _lake_fs(root)
    con.execute("set allowed_directories = ?", [[base.rstrip("/") + "/"]])
    con.execute("set temp_directory = ?", [spill])
    con.execute("set autoinstall_known_extensions = false")
    con.execute("set autoload_known_extensions = false")
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")


def _named_assets(sql: str, assets: Iterable[str]) -> list[str]:
    """The assets whose name appears as a word in ``sql``: the views a query can use.

    A word may be a column or a string; a view too many costs its files' footers, never a
    wrong answer. A query naming none (``show tables``) gets every asset's view.
    """
    words = {w.lower() for w in WORD.findall(sql)}
    assets = list(assets)
    return [a for a in assets if a in words] or assets


def query_lake(root: str, sql: str) -> pd.DataFrame:
    """Run a user's SELECT statement over the lake and return its rows.

    The views (one per asset, over its partition files) are built in a new in-memory DuckDB
    from the current listing of ``root``, so a query never locks anything a run writes, sees
    every partition written so far, and a copied home reads its own lake. The connection can
    read only the lake: see `_confine`.

    Raises
    ------
    DataError
        The SQL is not one SELECT, the lake has no asset yet, or the query fails (DuckDB's
        message on one line; a missing table lists the lake's assets).
    """
    import duckdb

    assets: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tvs-sql-") as spill:
        con = _connect(root)
        try:
            statements = select_statements(con, sql)
            assets = lake_assets(root)
            if not assets:
                raise DataError(f"lake {root}: no asset yet (run `tvs run` first)")
            for asset in _named_assets(sql, assets):
                files = lake_files(root, asset)
                if files:
                    source = _parquet_source(con, asset, files)
                    con.execute(f"create view {quote_identifier(asset)} as select * from {source}")
            _confine(con, root, spill)
            result = None
            for statement in statements:
                result = con.execute(statement)
            return result.df()
        except duckdb.CatalogException as err:
            raise DataError(
                f"sql: {describe_duckdb_error(err)}; the lake has {', '.join(assets)}"
            ) from err
        except duckdb.PermissionException as err:
            raise DataError(
                f"sql: {describe_duckdb_error(err)}; `tvs sql` reads only {root}"
            ) from err
        except duckdb.Error as err:
            raise DataError(f"sql: {describe_duckdb_error(err)}") from err
        finally:
            con.close()
