import os

import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.storage import (
    partition_path,
    read_partition,
    split_by_partition,
    write_parquet_atomic,
)


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
