"""The lake's IO manager on hand-built contexts: per-partition files, windows, metadata."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest
from upath import UPath

from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.io_manager import LakeIOManager, frame_metadata

DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01")
TWO_DAYS = dg.PartitionKeyRange("2025-01-01", "2025-01-02")


@pytest.fixture
def manager(tmp_path):
    return LakeIOManager(base_path=UPath(str(tmp_path / "lake")))


def two_day_output() -> pd.DataFrame:
    """A range run's output: one row on 2025-01-01, two on 2025-01-02."""
    return pd.DataFrame(
        {
            "x": [1, 2, 3],
            "date": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-02"]).as_unit("ns"),
        }
    )


def output_context(asset, **partition):
    return dg.build_output_context(asset_key=asset, asset_partitions_def=DAILY, **partition)


def input_context(asset, **partition):
    return dg.build_input_context(asset_key=asset, asset_partitions_def=DAILY, **partition)


def test_a_range_output_is_written_one_file_per_day_without_the_date(manager, tmp_path):
    context = output_context("a", asset_partition_key_range=TWO_DAYS)
    manager.handle_output(context, two_day_output())
    lake = tmp_path / "lake" / "a"
    files = sorted(p.relative_to(lake).as_posix() for p in lake.rglob("*.parquet"))
    assert files == ["date=2025-01-01/part.parquet", "date=2025-01-02/part.parquet"]
    assert pd.read_parquet(lake / "date=2025-01-02" / "part.parquet")["x"].tolist() == [2, 3]
    assert pq.read_schema(lake / "date=2025-01-01" / "part.parquet").names == ["x"]
    meta = context.get_logged_metadata()
    # A context built by hand has no step: the last day's own metadata is the output's.
    assert meta["partitions_written"].value == 2 and meta["dagster/row_count"].value == 2
    assert meta["path"].value.endswith("a/date=2025-01-02/part.parquet")


def test_a_day_outside_the_run_is_refused(manager):
    frame = two_day_output().assign(date=pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-05"]))
    with pytest.raises(DataError, match="outside the partitions"):
        manager.handle_output(output_context("a", asset_partition_key_range=TWO_DAYS), frame)


def test_inputs_come_back_as_one_frame_with_a_date_column(manager):
    manager.handle_output(output_context("a", asset_partition_key_range=TWO_DAYS), two_day_output())
    one = manager.load_input(input_context("a", partition_key="2025-01-02"))
    days = pd.to_datetime(["2025-01-02"] * 2).as_unit("ns")  # the lake's one date dtype
    expected = pd.DataFrame({"x": [2, 3], "date": days})
    pd.testing.assert_frame_equal(one, expected)
    window = manager.load_input(input_context("a", asset_partition_key_range=TWO_DAYS))
    pd.testing.assert_frame_equal(window.sort_values("x", ignore_index=True), two_day_output())


def test_a_window_of_an_asset_never_written_is_a_data_error(manager):
    with pytest.raises(DataError, match=r"nothing: no partition in 2025-01-01\.\.2025-01-02"):
        manager.load_input(input_context("nothing", asset_partition_key_range=TWO_DAYS))


def test_attrs_never_reach_the_file(manager, tmp_path):
    frame = pd.DataFrame({"x": [1.0]})
    frame.attrs = {"audit_trail": {"secret": "x"}}
    manager.handle_output(output_context("a", partition_key="2025-01-03"), frame)
    schema = pq.read_schema(tmp_path / "lake" / "a" / "date=2025-01-03" / "part.parquet")
    pandas_meta = json.loads(schema.metadata[b"pandas"])
    assert "secret" not in json.dumps(pandas_meta)
    assert frame.attrs == {"audit_trail": {"secret": "x"}}  # the caller's frame is untouched


def test_frame_metadata_previews_a_narrow_table_and_types_every_column():
    frame = pd.DataFrame({f"c{k}": [0.123456789 * k] * 12 for k in range(8)})
    frame.insert(0, "symbol", [f"S{k:02d}" for k in range(12)])
    frame["date"] = pd.Timestamp(0)
    meta = frame_metadata(frame)
    assert meta["dagster/row_count"].value == 12
    schema = meta["dagster/column_schema"].value
    assert [(c.name, c.type) for c in schema.columns] == [
        ("symbol", "str"),
        *[(f"c{k}", "float64") for k in range(8)],
    ]
    preview = meta["preview"].value.splitlines()
    header = [cell.strip() for cell in preview[0].strip("|").split("|")]
    assert header == ["symbol", "c0", "c1", "c2", "c3", "c4"]  # six columns, no date
    rows = preview[2:7]
    assert [row.split("|")[1].strip() for row in rows] == ["S00", "S01", "S02", "S03", "S04"]
    assert rows[0].split("|")[3].strip() == "0.1235"  # four significant digits
    assert preview[-1] == "_3 more columns: see the column schema_"
    assert frame_metadata(frame.iloc[:0])["preview"].value == "_empty_"
