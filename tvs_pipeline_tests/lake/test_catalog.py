"""DuckDB over the lake: the windowed reader, the listing, and the confined `tvs sql` query."""

from __future__ import annotations

import fsspec
import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.catalog import (
    LakeReader,
    describe_duckdb_error,
    lake_assets,
    lake_files,
    query_lake,
    quote_identifier,
)
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


def test_reader_reads_and_refuses_a_bad_name(tmp_path):
    root = str(tmp_path / "lake")
    for day, x in [("2025-01-01", 1), ("2025-01-02", 2)]:
        write_parquet_atomic(pd.DataFrame({"x": [x]}), partition_path(root, "a", day))
    reader = LakeReader(root)
    assert reader.read("missing_asset") is None
    assert reader.read_days("a", "2025-01-02", "2025-01-02")["x"].tolist() == [2]
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


def test_a_failing_read_names_the_asset_on_one_line(root):
    with pytest.raises(DataError, match="lake read of a: ") as caught:
        LakeReader(root).read("a", where="no_such_column = 1")
    assert "\n" not in str(caught.value) and "(at line 1: " in str(caught.value)


def test_a_trailing_slash_on_the_root_reads_the_same(root):
    assert len(LakeReader(root + "/").read("a")) == 4
    assert LakeReader(root + "/").has_asset("a") and not LakeReader(root).has_asset("b")


def test_the_listing_holds_partition_files_only(root):
    folder = root + "/a"
    (open(f"{folder}/date=2025-01-02/.part-0123.tmp", "wb")).close()  # a writer's temporary
    (open(f"{folder}/notes.txt", "w")).close()
    write_parquet_atomic(pd.DataFrame({"x": [9]}), f"{folder}/date=junk/part.parquet")
    assert lake_files(root, "a") == [f"{folder}/date=2025-01-0{d}/part.parquet" for d in (1, 2, 3)]
    write_parquet_atomic(pd.DataFrame({"x": [1]}), partition_path(root, "b_2", "2025-01-01"))
    (open(f"{root}/README", "w")).close()
    assert lake_assets(root) == ["a", "b_2"]
    assert lake_assets(root + "/nowhere") == [] and lake_files(root, "nothing") == []
    assert len(LakeReader(root).read("a")) == 4


@pytest.mark.parametrize(
    "name",
    ["it's", 'say "hi"', "[abc]", "star*", "semi;colon", "per%cent"],
    ids=["quote", "double-quote", "brackets", "star", "semicolon", "percent"],
)
def test_a_root_is_a_name_never_sql_or_a_pattern(tmp_path, name):
    root = str(tmp_path / name / "lake")
    write_parquet_atomic(pd.DataFrame({"x": [1, 2]}), partition_path(root, "a", "2025-01-01"))
    assert LakeReader(root).read_days("a", "2025-01-01", "2025-01-01")["x"].tolist() == [1, 2]
    assert query_lake(root, "select sum(x) as s from a").loc[0, "s"] == 3


def test_a_key_value_folder_in_the_root_is_refused(tmp_path):
    root = str(tmp_path / "date=2020-01-01" / "lake")
    write_parquet_atomic(pd.DataFrame({"x": [1]}), partition_path(root, "a", "2025-01-01"))
    with pytest.raises(DataError, match=r"folder 'date=2020-01-01' has '='"):
        LakeReader(root).read("a")


def test_quote_identifier_doubles_an_embedded_quote():
    assert quote_identifier("window") == '"window"'
    assert quote_identifier('a"b') == '"a""b"'


def test_an_asset_named_like_a_keyword_reads(tmp_path):
    root = str(tmp_path / "lake")
    write_parquet_atomic(pd.DataFrame({"x": [5]}), partition_path(root, "window", "2025-01-01"))
    assert LakeReader(root).read("window", where="x = ?", params=[5])["x"].tolist() == [5]
    assert query_lake(root, 'select x from "window"')["x"].tolist() == [5]


def test_describe_error_puts_the_message_and_the_query_line_on_one_line():
    import duckdb

    with pytest.raises(duckdb.ParserException) as caught:
        duckdb.connect().execute("select 1 from")
    assert describe_duckdb_error(caught.value) == (
        'Parser Error: syntax error at or near "from" (at line 1: select 1 from)'
    )
    assert describe_duckdb_error(ValueError("plain")) == "plain"


def test_views_are_built_per_query_and_see_every_partition(root):
    out = query_lake(root, "select count(*) as n, max(date) as last from a")
    assert out.loc[0, "n"] == 4 and str(out.loc[0, "last"])[:10] == "2025-01-03"
    write_parquet_atomic(pd.DataFrame({"x": [5]}), partition_path(root, "a", "2025-01-04"))
    out = query_lake(root, "select count(*) as n, max(date) as last from a")
    assert out.loc[0, "n"] == 5 and str(out.loc[0, "last"])[:10] == "2025-01-04"


def test_query_lake_runs_one_select_and_reads_only_the_lake(root, tmp_path):
    assert query_lake(root, "select sum(x) as s from a;")["s"].tolist() == [10]
    # Two results where one is shown would lose one: refused in one line instead.
    with pytest.raises(DataError, match="sql: 2 statements; `tvs sql` runs one SELECT"):
        query_lake(root, "select 1 as one; select sum(x) as s from a")
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "outside.parquet")
    with pytest.raises(DataError, match=r"Permission Error.*`tvs sql` reads only"):
        query_lake(root, f"select * from read_parquet('{tmp_path}/outside.parquet')")
    with pytest.raises(DataError, match="statement 1 is COPY, not SELECT"):
        query_lake(root, f"copy (select 1) to '{root}/a/date=2025-01-01/part.parquet'")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("", "no statement; expected a SELECT"),
        ("select * from nope", "nope does not exist.*; the lake has a$"),
        ("selec 1", r'syntax error at or near "selec" \(at line 1: selec 1\)'),
    ],
    ids=["empty", "missing-table", "parser-error"],
)
def test_query_lake_errors_are_one_line(root, sql, message):
    with pytest.raises(DataError, match=message) as caught:
        query_lake(root, sql)
    assert "\n" not in str(caught.value)


def test_no_asset_before_the_first_run(tmp_path):
    with pytest.raises(DataError, match=r"no asset yet \(run `tvs run` first\)"):
        query_lake(str(tmp_path / "lake"), "select 1")


@pytest.fixture
def remote_root(tmp_path):
    """A lake on fsspec's in-memory filesystem: read through the registered filesystem."""
    fs = fsspec.filesystem("memory")
    root = f"memory://{tmp_path.name}/lake"
    write_parquet_atomic(pd.DataFrame({"x": [1, 2]}), partition_path(root, "a", "2025-01-01"))
    write_parquet_atomic(pd.DataFrame({"x": [3]}), f"memory://{tmp_path.name}/other/x.parquet")
    yield root
    fs.rm(f"/{tmp_path.name}", recursive=True)


def test_a_remote_root_is_read_and_confined_the_same_way(remote_root, tmp_path):
    assert LakeReader(remote_root).read_days("a", "2025-01-01", "2025-01-01")["x"].tolist() == [
        1,
        2,
    ]
    assert query_lake(remote_root, "select sum(x) as s from a").loc[0, "s"] == 3
    for outside in ("/etc/passwd", f"memory://{tmp_path.name}/other/x.parquet"):
        with pytest.raises(DataError, match="Permission Error"):
            query_lake(remote_root, f"select * from read_parquet('{outside}')")
