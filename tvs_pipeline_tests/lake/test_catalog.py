"""DuckDB over the lake: the windowed reader and the catalog of views."""

from __future__ import annotations

import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.catalog import LakeReader, query_catalog, refresh_catalog
from tvs_pipeline.lake.storage import partition_path, write_parquet_atomic


@pytest.fixture
def root(tmp_path):
    """Asset ``a`` on three days; the third day's file gained a column ``y``."""
    root = str(tmp_path / "lake")
    write_parquet_atomic(pd.DataFrame({"x": [1]}), partition_path(root, "a", "2025-01-01"))
    write_parquet_atomic(pd.DataFrame({"x": [2]}), partition_path(root, "a", "2025-01-02"))
    write_parquet_atomic(
        pd.DataFrame({"x": [3, 4], "y": ["p", "q"]}), partition_path(root, "a", "2025-01-03")
    )
    return root


def test_reader_and_catalog(tmp_path):
    root = str(tmp_path / "lake")
    for day, x in [("2025-01-01", 1), ("2025-01-02", 2)]:
        write_parquet_atomic(pd.DataFrame({"x": [x]}), partition_path(root, "a", day))
    reader = LakeReader(root)
    assert reader.read("missing_asset") is None
    assert reader.read_days("a", "2025-01-02", "2025-01-02")["x"].tolist() == [2]
    catalog = tmp_path / "tvs.duckdb"
    refresh_catalog(catalog, root, ["a", "missing_asset"])
    out = query_catalog(catalog, root, "select sum(x) as s, count(*) as n from a")
    assert out.loc[0, "s"] == 3 and out.loc[0, "n"] == 2
    with pytest.raises(DataError, match="sql:"):
        query_catalog(catalog, root, "select * from nope")
    with pytest.raises(DataError, match="not a valid asset name"):
        reader.read("a; drop")


def test_read_days_is_inclusive_and_adds_the_partition_date(root):
    got = LakeReader(root).read_days("a", "2025-01-02", "2025-01-03").sort_values("x")
    assert got["x"].tolist() == [2, 3, 4]
    days = got["date"].dt.strftime("%Y-%m-%d").tolist()
    assert days == ["2025-01-02", "2025-01-03", "2025-01-03"]
    assert str(got["date"].dtype) == "datetime64[ns]"
    assert LakeReader(root).read_days("a", "2025-02-01", "2025-02-28").empty


def test_a_column_added_later_reads_as_missing_in_older_partitions(root):
    got = LakeReader(root).read("a", columns="x, y").sort_values("x", ignore_index=True)
    assert got["x"].tolist() == [1, 2, 3, 4]
    assert got["y"].isna().tolist() == [True, True, False, False]


def test_where_params_and_registered_frames(root):
    reader = LakeReader(root)
    assert reader.read("a", where="x > ?", params=[2])["x"].sort_values().tolist() == [3, 4]
    wanted = pd.DataFrame({"x": [1, 4, 9]})
    joined = reader.read("a", where="x in (select x from wanted)", frames={"wanted": wanted})
    assert sorted(joined["x"]) == [1, 4]


def test_a_failing_read_names_the_asset(root):
    with pytest.raises(DataError, match="lake read of a: "):
        LakeReader(root).read("a", where="no_such_column = 1")


def test_a_trailing_slash_on_the_root_reads_the_same(root):
    assert len(LakeReader(root + "/").read("a")) == 4
    assert LakeReader(root + "/").has_asset("a") and not LakeReader(root).has_asset("b")


def test_no_catalog_before_the_first_run(tmp_path, root):
    catalog = tmp_path / "tvs.duckdb"
    with pytest.raises(DataError, match="no catalog yet"):
        query_catalog(catalog, root, "select 1")
    refresh_catalog(catalog, root, ["missing_asset", "Bad-Name"])  # nothing to view: no file
    assert not catalog.exists()


def test_views_show_partitions_written_after_the_refresh(tmp_path, root):
    catalog = tmp_path / "tvs.duckdb"
    refresh_catalog(catalog, root, ["a"])
    write_parquet_atomic(pd.DataFrame({"x": [5]}), partition_path(root, "a", "2025-01-04"))
    out = query_catalog(catalog, root, "select count(*) as n, max(date) as last from a")
    assert out.loc[0, "n"] == 5 and str(out.loc[0, "last"])[:10] == "2025-01-04"
