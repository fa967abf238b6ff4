"""Lake layout and atomic Parquet writes: ``<root>/<asset>/date=YYYY-MM-DD/part.parquet``."""

from __future__ import annotations

import functools
import os
import re
import socket
import uuid
from collections.abc import Iterable
from datetime import date, timedelta
from typing import TYPE_CHECKING

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tvs_pipeline.errors import DataError

if TYPE_CHECKING:
    from tvs_pipeline.settings import ObjectStoreSettings

__all__ = [
    "PARTITION_COLUMN",
    "as_day",
    "asset_glob",
    "configure_object_store",
    "is_local",
    "missing_days",
    "partition_keys",
    "partition_path",
    "process_alive",
    "read_partition",
    "read_schema",
    "split_by_partition",
    "staging_path",
    "sync_folders",
    "write_parquet_atomic",
]

# A writer's temporary file beside its partition: host and pid say whose it is, so the next
# writer of the folder on the same host can remove those a killed process left behind.
_STAGING = re.compile(r"^\.part-(?P<host>[^-]+)-(?P<pid>\d+)-[0-9a-f]+\.tmp$")

# The hive partition column. Files never store it; DuckDB and the IO manager add it on read.
PARTITION_COLUMN = "date"
PARTITION_KEY = re.compile(rf"/{PARTITION_COLUMN}=(\d{{4}}-\d{{2}}-\d{{2}})/part\.parquet$")


def configure_object_store(options: ObjectStoreSettings, root: str) -> None:
    """Bound every call of every s3fs filesystem this process builds: timeouts and tries.

    fsspec hands its configuration for a protocol to each filesystem it creates, so the IO
    manager's paths, DuckDB's registered filesystem and the readers all get botocore's
    ``connect_timeout``, ``read_timeout`` and ``attempts`` tries in standard retry mode
    (timeouts, resets, throttling, 5xx). For an ``s3://`` lake ``root`` (a local lake does
    not pay s3fs's import for it) two more bounds are set:

    - s3fs's own retry loop around botocore is held to one try, or the two would multiply
      (its default, 5 x botocore's, hung a run for minutes);
    - requests go through `_bounded_http_session`: no ``Expect: 100-continue`` (aiohttp
      waits for the interim answer with no timer at all, so a silent endpoint held every
      write for ever) and a deadline of ``request_timeout`` on a whole request, its upload
      included (a peer that stops reading leaves no read for ``read_timeout`` to time).
    """
    s3 = fsspec.config.conf.setdefault("s3", {})
    bounds = {
        "connect_timeout": options.connect_timeout,
        "read_timeout": options.read_timeout,
        "retries": {"total_max_attempts": options.attempts, "mode": "standard"},
    }
    s3["config_kwargs"] = {**s3.get("config_kwargs", {}), **bounds}
    if not str(root).startswith(("s3://", "s3a://")):
        return
    try:
        import s3fs
    except ImportError:  # the s3 extra is not installed: fsspec says so when the lake opens
        return
    s3fs.S3FileSystem.retries = 1
    s3["config_kwargs"]["http_session_cls"] = _bounded_http_session(options.request_timeout)


@functools.cache
def _bounded_http_session(total: float) -> type:
    """The HTTP session of aiobotocore, with a whole-request deadline and no 100-continue wait.

    One class per deadline (cached): fsspec keys its cached filesystems by their options, so
    the same settings give the same filesystem.
    """
    import aiohttp
    from aiobotocore.httpsession import AIOHTTPSession

    class BoundedHTTPSession(AIOHTTPSession):
        """Each request within ``total`` seconds; bodies sent without waiting for a 100."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            timeout = self._timeout  # built from botocore's connect and read timeouts
            self._timeout = aiohttp.ClientTimeout(
                sock_connect=timeout.sock_connect, sock_read=timeout.sock_read, total=total
            )

        async def send(self, request: object) -> object:
            """Send without ``Expect: 100-continue`` (not signed, so safe to drop)."""
            if "Expect" in request.headers:
                del request.headers["Expect"]
            return await super().send(request)

    return BoundedHTTPSession


def is_local(root: str) -> bool:
    """Whether ``root`` is a local path (rename is atomic there, not on object storage)."""
    return "://" not in str(root) or str(root).startswith("file://")


def _strip_file_scheme(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def partition_path(root: str, asset: str, day: date | str | pd.Timestamp) -> str:
    """Path of one asset partition file under the lake root."""
    key = pd.Timestamp(day).date().isoformat()
    return f"{str(root).rstrip('/')}/{asset}/{PARTITION_COLUMN}={key}/part.parquet"


def asset_glob(root: str, asset: str) -> str:
    """Glob matching every partition file of an asset."""
    return f"{str(root).rstrip('/')}/{asset}/{PARTITION_COLUMN}=*/part.parquet"


def partition_keys(root: str, asset: str) -> list[str]:
    """ISO keys of every partition file of ``asset``, sorted: one listing, no file is read."""
    fs, pattern = fsspec.core.url_to_fs(asset_glob(root, asset))
    found = (PARTITION_KEY.search("/" + str(path)) for path in fs.glob(pattern))
    return sorted(match.group(1) for match in found if match)


def missing_days(keys: list[str], start: date, end: date) -> list[str]:
    """The days of ``[start, end]`` (ISO) that have no key in ``keys``, in order."""
    held = set(keys)
    days = ((start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1))
    return [day for day in days if day not in held]


def read_schema(path: str) -> pa.Schema:
    """The Arrow schema of one partition file, from its footer (the rows are not read).

    Raises
    ------
    DataError
        The file is missing or is not Parquet.
    OSError
        The disk or the store failed (see `_read_error`); the message names the file.
    """
    return _read_parquet(path, pq.read_schema)


def _read_parquet(path: str, read):
    """``read`` (a pyarrow reader taking a path or a file) over a local or remote file."""
    try:
        if is_local(path):
            return read(_strip_file_scheme(path))
        fs, fs_path = fsspec.core.url_to_fs(path)
        with fs.open(fs_path, "rb") as handle:
            return read(handle)
    except (OSError, pa.ArrowInvalid) as err:
        raise _read_error(path, err) from err


def _read_error(path: str, err: Exception) -> Exception:
    """A failed read of one partition file as one line naming it.

    A missing file and a file that is not Parquet are DataErrors; a failing disk or store
    (a timeout, a refused connection, EIO) stays an OSError, so it is not taken for a bad file.
    pyarrow reports some corruptions as a bare ``OSError`` without errno, hence the test.
    """
    if isinstance(err, FileNotFoundError):
        return DataError(f"{path}: partition file not found")
    if isinstance(err, pa.ArrowInvalid) or (type(err) is OSError and err.errno is None):
        return DataError(f"{path}: corrupt Parquet partition ({_cause(err)})")
    return _os_error(err, f"could not read partition {path}: {_cause(err)}")


def _os_error(err: Exception, message: str) -> OSError:
    """An OSError saying ``message``, with the errno of ``err`` when it has one."""
    code = getattr(err, "errno", None)
    return OSError(code, message) if isinstance(code, int) else OSError(message)


def _cause(err: Exception) -> str:
    """The system's reason for an OSError (pyarrow wraps it in its own words), else its text."""
    code = getattr(err, "errno", None)
    if isinstance(code, int) and code > 0:
        return os.strerror(code)
    text = str(getattr(err, "strerror", None) or err)
    return text.splitlines()[0] if text else type(err).__name__


def as_day(values: pd.Series | pd.Index) -> pd.Series | pd.Index:
    """Normalise dates to naive midnight ``datetime64[ns]`` in UTC (the one date dtype)."""
    if isinstance(values, pd.Series) and values.dtype.kind == "M" and values.dt.tz is None:
        # Already naive dates (a lake read): a cast, not a parse of 26 M stamps.
        cast = values.astype("datetime64[ns]")
        midnight = cast.to_numpy().view("int64") % 86_400_000_000_000 == 0
        return cast if midnight.all() else cast.dt.normalize()
    converted = pd.to_datetime(values, utc=True)
    if isinstance(converted, pd.Index):
        return converted.tz_localize(None).astype("datetime64[ns]").normalize()
    return converted.dt.tz_localize(None).astype("datetime64[ns]").dt.normalize()


def staging_path(local: str) -> str:
    """A temporary file beside the local partition file ``local``, to write and rename.

    Temporaries of dead processes of this host in the same folder are removed first: a
    process killed between its write and its rename (kill -9, power loss) leaves its file,
    and no run would ever remove it otherwise. Another host's (a shared filesystem) and a
    live process's are left alone.
    """
    folder = os.path.dirname(local)
    host = _host_label()
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        names = []
    for name in names:
        match = _STAGING.match(name)
        if match and match["host"] == host and not process_alive(int(match["pid"])):
            try:
                os.remove(os.path.join(folder, name))
            except FileNotFoundError:
                pass
    return os.path.join(folder, f".part-{host}-{os.getpid()}-{uuid.uuid4().hex}.tmp")


@functools.cache
def _host_label() -> str:
    """The host's name as a file-name part (no ``-`` or ``/``)."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def process_alive(pid: object) -> bool:
    """Whether ``pid`` names a live process of this host (another user's counts as alive)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def write_parquet_atomic(frame: pd.DataFrame, path: str) -> None:
    """Write ``frame`` to ``path`` so that a reader never sees a half-written file.

    Locally the file is written beside its target, flushed to the disk, and renamed (atomic
    on POSIX), then its folders are synced (`sync_folders`), so a power loss leaves the old
    file or the whole new one; on object storage a single PUT is already atomic and durable,
    so it is written in place.

    Raises
    ------
    OSError
        The file could not be written (full disk, no permission, unreachable store): the
        message names the partition file and the cause, the old file is left as it was.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    try:
        if is_local(path):
            local = _strip_file_scheme(path)
            os.makedirs(os.path.dirname(local), exist_ok=True)
            tmp = staging_path(local)
            try:
                with open(tmp, "wb") as handle:
                    pq.write_table(table, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, local)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
            sync_folders([local])
            return
        fs, fs_path = fsspec.core.url_to_fs(path)
        with fs.open(fs_path, "wb") as handle:
            pq.write_table(table, handle)
    except OSError as err:
        raise _os_error(err, f"could not write partition {path}: {_cause(err)}") from err


def sync_folders(files: Iterable[str]) -> None:
    """Make the renames of local ``files`` durable: fsync each one's folder and that folder's.

    A rename is an entry of its folder, and a partition's folder (``date=D``) is new on its
    first write, an entry of the asset's folder: both are flushed once, however many files
    they hold. The files' own bytes are flushed by their writer before the rename.
    """
    folders = {os.path.dirname(_strip_file_scheme(f)) for f in files if is_local(f)}
    for folder in sorted(folders | {os.path.dirname(f) for f in folders}):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def read_partition(path: str) -> pd.DataFrame:
    """Read one partition file; a corrupt or missing file is a DataError naming the path.

    Raises
    ------
    DataError
        The file is missing or is not Parquet.
    OSError
        The disk or the store failed (see `_read_error`); the message names the file.
    """
    return _read_parquet(path, pq.read_table).to_pandas()


def split_by_partition(frame: pd.DataFrame, keys: list[str]) -> dict[str, pd.DataFrame]:
    """Split a frame with a ``date`` column into one frame per partition key (column dropped).

    Every key gets a frame, empty when no row carries it, so an empty day is still written.

    Raises
    ------
    DataError
        The frame has no ``date`` column, or rows dated outside ``keys``.
    """
    if PARTITION_COLUMN not in frame.columns:
        raise DataError(
            f"output spans {len(keys)} partitions but has no '{PARTITION_COLUMN}' column"
        )
    column = frame[PARTITION_COLUMN]
    if not (isinstance(column.dtype, np.dtype) and column.dtype == "datetime64[ns]"):
        column = as_day(column)
    stamps = column.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    wanted = np.array(keys, dtype="datetime64[D]")
    stray = np.setdiff1d(np.unique(stamps), wanted)
    if len(stray):
        shown = [str(d) for d in stray[:3]]
        raise DataError(f"output has rows for {shown} outside the partitions being written")
    # Rows in date order (a multi-day output is built day by day, so usually already), then
    # a binary search per key and a slice: a mask per key is quadratic in the range (a
    # 500-day normalization output is 26 M rows).
    body = frame.drop(columns=[PARTITION_COLUMN])
    body.attrs = {}  # files hold values only; pandas would deep-copy attrs into every slice
    if len(stamps) and not (stamps[1:] >= stamps[:-1]).all():
        order = np.argsort(stamps, kind="stable")
        stamps, body = stamps[order], body.iloc[order]
    parts = {}
    for key, day in zip(keys, wanted, strict=True):
        lo, hi = np.searchsorted(stamps, day, "left"), np.searchsorted(stamps, day, "right")
        parts[key] = body.iloc[lo:hi].reset_index(drop=True)
    return parts
