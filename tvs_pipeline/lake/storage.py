"""Lake layout and atomic Parquet writes: ``<root>/<asset>/date=YYYY-MM-DD/part.parquet``."""

from __future__ import annotations

import os
import uuid
from datetime import date

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tvs_pipeline.errors import DataError

__all__ = [
    "PARTITION_COLUMN",
    "as_day",
    "asset_glob",
    "is_local",
    "partition_path",
    "read_partition",
    "split_by_partition",
    "write_parquet_atomic",
]

# The hive partition column. Files never store it; DuckDB and the IO manager add it on read.
PARTITION_COLUMN = "date"


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


def write_parquet_atomic(frame: pd.DataFrame, path: str) -> None:
    """Write ``frame`` to ``path`` so that a reader never sees a half-written file.

    Locally the file is written beside its target and renamed (atomic on POSIX); on object
    storage a single PUT is already atomic, so it is written in place.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if is_local(path):
        local = _strip_file_scheme(path)
        os.makedirs(os.path.dirname(local), exist_ok=True)
        tmp = os.path.join(os.path.dirname(local), f".part-{uuid.uuid4().hex}.tmp")
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, local)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return
    fs, fs_path = fsspec.core.url_to_fs(path)
    with fs.open(fs_path, "wb") as handle:
        pq.write_table(table, handle)


def read_partition(path: str) -> pd.DataFrame:
    """Read one partition file; a corrupt or missing file is a DataError naming the path."""
    try:
        if is_local(path):
            return pq.read_table(_strip_file_scheme(path)).to_pandas()
        fs, fs_path = fsspec.core.url_to_fs(path)
        with fs.open(fs_path, "rb") as handle:
            return pq.read_table(handle).to_pandas()
    except FileNotFoundError as err:
        raise DataError(f"{path}: partition file not found") from err
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"{path}: corrupt Parquet partition ({str(err).splitlines()[0]})") from err


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
