import errno
import os
import shutil
import signal
import subprocess
import sys
from datetime import date

import fsspec
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.storage import (
    configure_object_store,
    missing_days,
    partition_keys,
    partition_path,
    read_partition,
    read_schema,
    split_by_partition,
    write_parquet_atomic,
)
from tvs_pipeline.settings import ObjectStoreSettings


def test_partition_layout(tmp_path):
    path = partition_path(str(tmp_path), "bars", "2025-03-14")
    assert path.endswith("bars/date=2025-03-14/part.parquet")


def test_atomic_write_leaves_no_temp_file(tmp_path):
    path = partition_path(str(tmp_path), "a", "2025-01-01")
    write_parquet_atomic(pd.DataFrame({"x": [1, 2]}), path)
    assert os.listdir(os.path.dirname(path)) == ["part.parquet"]
    assert read_partition(path)["x"].tolist() == [1, 2]


def test_failed_write_keeps_the_old_partition(tmp_path):
    path = partition_path(str(tmp_path), "a", "2025-01-01")
    write_parquet_atomic(pd.DataFrame({"x": [1]}), path)
    with pytest.raises((TypeError, ValueError)):  # pyarrow cannot store a bare object
        write_parquet_atomic(pd.DataFrame({"x": [object()]}), path)
    assert read_partition(path)["x"].tolist() == [1]
    assert os.listdir(os.path.dirname(path)) == ["part.parquet"]


def test_corrupt_partition_is_named(tmp_path):
    path = partition_path(str(tmp_path), "a", "2025-01-01")
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as handle:
        handle.write(b"not parquet")
    with pytest.raises(DataError, match="corrupt Parquet partition"):
        read_partition(path)


def test_split_by_partition():
    frame = pd.DataFrame({"date": pd.to_datetime(["2025-01-01", "2025-01-02"]), "x": [1, 2]})
    parts = split_by_partition(frame, ["2025-01-01", "2025-01-02", "2025-01-03"])
    assert parts["2025-01-02"]["x"].tolist() == [2]
    assert parts["2025-01-03"].empty and "date" not in parts["2025-01-01"]
    with pytest.raises(DataError, match="outside the partitions"):
        split_by_partition(frame, ["2025-01-01"])


def test_an_empty_day_is_still_a_file_with_the_columns(tmp_path):
    # A day without rows must be a file: a reader tells a gap from a quiet day by the listing.
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-01-01"]).astype("datetime64[ns]"),
            "symbol": pd.Series(["A"], dtype="str"),
            "close": [1.0],
        }
    )
    root = str(tmp_path)
    for key, part in split_by_partition(frame, ["2025-01-01", "2025-01-02"]).items():
        write_parquet_atomic(part, partition_path(root, "bars", key))
    assert partition_keys(root, "bars") == ["2025-01-01", "2025-01-02"]
    full, empty = (
        read_schema(partition_path(root, "bars", k)) for k in partition_keys(root, "bars")
    )
    assert empty.remove_metadata() == full.remove_metadata()
    assert read_partition(partition_path(root, "bars", "2025-01-02")).empty


def test_partition_keys_are_one_listing_of_the_files(tmp_path):
    root = str(tmp_path)
    for key in ("2025-01-03", "2025-01-01"):
        write_parquet_atomic(pd.DataFrame({"x": [1]}), partition_path(root, "a", key))
    os.makedirs(tmp_path / "a" / "date=2025-01-02")  # a folder without its file is no partition
    (tmp_path / "a" / "date=2025-01-02" / ".part-1.tmp").write_bytes(b"")
    assert partition_keys(root, "a") == ["2025-01-01", "2025-01-03"]
    assert partition_keys(root, "nothing") == []


def test_missing_days():
    keys = ["2025-01-01", "2025-01-03"]
    assert missing_days(keys, date(2025, 1, 1), date(2025, 1, 4)) == ["2025-01-02", "2025-01-04"]
    assert missing_days(keys, date(2025, 1, 3), date(2025, 1, 3)) == []
    assert missing_days(keys, date(2025, 1, 4), date(2025, 1, 3)) == []


def test_read_schema_reads_the_footer_and_names_a_bad_file(tmp_path):
    path = partition_path(str(tmp_path), "a", "2025-01-01")
    write_parquet_atomic(pd.DataFrame({"x": [1.5]}), path)
    assert str(read_schema(path).field("x").type) == "double"
    with pytest.raises(DataError, match="partition file not found"):
        read_schema(partition_path(str(tmp_path), "a", "2025-01-02"))
    with open(path, "wb") as handle:
        handle.write(b"not parquet")
    with pytest.raises(DataError, match=f"{path}: corrupt Parquet partition"):
        read_schema(path)


def test_a_failing_disk_is_not_taken_for_a_corrupt_file(tmp_path, monkeypatch):
    path = partition_path(str(tmp_path), "a", "2025-01-01")
    write_parquet_atomic(pd.DataFrame({"x": [1]}), path)

    def fail(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(pq, "read_table", fail)
    with pytest.raises(OSError, match=f"could not read partition {path}: Input/output error"):
        read_partition(path)


# ----------------------------------------------------------------- a full disk (issue 18.8)
def test_a_full_disk_names_the_partition_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = partition_path(str(tmp_path), "a", "2025-01-01")
    write_parquet_atomic(pd.DataFrame({"x": [1]}), path)

    def full(table, where, **kwargs):
        where.write(b"PAR1")  # a start, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(OSError, match=f"could not write partition {path}: No space left") as err:
        write_parquet_atomic(pd.DataFrame({"x": [2]}), path)
    assert err.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert read_partition(path)["x"].tolist() == [1]
    assert os.listdir(os.path.dirname(path)) == ["part.parquet"]


def test_a_write_is_flushed_before_its_rename_and_the_rename_after(tmp_path, monkeypatch):
    """The staged bytes reach the disk before the rename puts them in place, and the
    partition's new folder and its entry in the asset's folder right after: a power loss
    leaves no empty or partial `part.parquet`."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(
        os, "fsync", lambda fd: (events.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd))
    )
    monkeypatch.setattr(
        os, "replace", lambda src, dst: (events.append(f"rename {dst}"), real_replace(src, dst))
    )
    path = partition_path(str(tmp_path / "lake"), "a", "2025-01-01")
    write_parquet_atomic(pd.DataFrame({"x": [1]}), path)
    monkeypatch.undo()
    folder = os.path.dirname(path)
    assert events[0].startswith(os.path.join(folder, ".part-")) and events[1] == f"rename {path}"
    assert sorted(events[2:]) == sorted([folder, os.path.dirname(folder)])
    assert read_partition(path)["x"].tolist() == [1]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_really_full_disk_names_the_partition(tiny_disk):
    root = str(tiny_disk / "lake")
    small = partition_path(root, "a", "2025-01-01")
    write_parquet_atomic(pd.DataFrame({"x": [1.0]}), small)
    noise = pd.DataFrame({"x": np.random.default_rng(0).normal(size=400_000)})  # ~3 MB
    big = partition_path(root, "a", "2025-01-02")
    with pytest.raises(OSError, match=f"could not write partition {big}: No space left"):
        write_parquet_atomic(noise, big)
    assert os.listdir(os.path.dirname(big)) == []  # no half-written file, no temporary file
    with pytest.raises(OSError, match=f"could not write partition {small}: No space left"):
        write_parquet_atomic(noise, small)
    assert read_partition(small)["x"].tolist() == [1.0]


# -------------------------------------------------------- object-store bounds (issue 18.9)
def test_object_store_bounds_reach_every_s3_filesystem(monkeypatch):
    s3fs = pytest.importorskip("s3fs")
    monkeypatch.setitem(fsspec.config.conf, "s3", {"client_kwargs": {"endpoint_url": "http://x"}})
    monkeypatch.setattr(s3fs.S3FileSystem, "retries", 5)
    bounds = {
        "connect_timeout": 2.0,
        "read_timeout": 7.0,
        "retries": {"total_max_attempts": 4, "mode": "standard"},
    }
    configure_object_store(ObjectStoreSettings(2.0, 7.0, 4, 60.0), "/local/lake")
    assert fsspec.config.conf["s3"]["config_kwargs"] == bounds
    assert s3fs.S3FileSystem.retries == 5  # a local lake leaves s3fs alone
    configure_object_store(ObjectStoreSettings(2.0, 7.0, 4, 60.0), "s3://bucket/lake")
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    session = fs.config_kwargs.pop("http_session_cls")
    assert fs.config_kwargs == bounds
    assert fs.client_kwargs == {"endpoint_url": "http://x"}  # other settings are kept
    assert s3fs.S3FileSystem.retries == 1  # s3fs's loop does not multiply botocore's tries
    http = session(timeout=(2.0, 7.0))
    assert (http._timeout.sock_connect, http._timeout.sock_read, http._timeout.total) == (
        2.0,
        7.0,
        60.0,
    )
    configure_object_store(ObjectStoreSettings(2.0, 7.0, 4, 60.0), "s3://bucket/lake")
    assert fsspec.config.conf["s3"]["config_kwargs"]["http_session_cls"] is session  # cached


def test_a_killed_writers_temporary_is_removed_by_the_next_writer_of_its_folder(tmp_path):
    # A real process killed with SIGKILL between writing its temporary and renaming it.
    path = partition_path(str(tmp_path), "a", "2025-01-02")
    script = (
        "import os, sys, time\n"
        "from tvs_pipeline.lake.storage import staging_path\n"
        f"tmp = staging_path({path!r})\n"
        "os.makedirs(os.path.dirname(tmp), exist_ok=True)\n"
        "open(tmp, 'wb').write(b'half a file')\n"
        "print(tmp, flush=True)\n"
        "time.sleep(60)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    left = writer.stdout.readline().strip()
    live = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    alive = live.stdout.readline().strip()
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    other_host = os.path.join(os.path.dirname(path), ".part-otherhost-1-0a.tmp")
    open(other_host, "wb").close()
    try:
        write_parquet_atomic(pd.DataFrame({"x": [1]}), path)
        remaining = set(os.listdir(os.path.dirname(path)))
    finally:
        live.kill()
        live.wait()
    # The dead writer's file is gone; a live writer's and another host's are kept.
    assert remaining == {"part.parquet", os.path.basename(alive), os.path.basename(other_host)}
    assert os.path.basename(left) not in remaining
