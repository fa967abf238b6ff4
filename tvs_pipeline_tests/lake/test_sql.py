"""`tvs sql` against a lake the pipeline wrote: read-only, confined, never in a run's way.

Every test goes through ``main(["sql", ...])`` over partitions written by the lake IO manager
as `build_resources` configures it, so they exercise what an operator runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import dagster as dg
import pandas as pd
import pytest

from tvs_pipeline.cli import main
from tvs_pipeline.defs.resources import build_resources
from tvs_pipeline.settings import Settings, load_settings

DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-02-01")
DAYS = [f"2025-01-{d:02d}" for d in range(1, 10)]


@dg.asset(partitions_def=DAILY)
def prices(context) -> pd.DataFrame:
    """Two rows a day."""
    return pd.DataFrame({"symbol": ["A", "B"], "close": [1.0, 2.0], "key": context.partition_key})


@dg.asset(
    partitions_def=DAILY,
    ins={"prices": dg.AssetIn(partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1))},
)
def span(prices: pd.DataFrame) -> pd.DataFrame:
    """What the two-day window of prices held: an asset reading through the lake reader."""
    return pd.DataFrame({"days": [prices["date"].nunique()], "rows": [len(prices)]})


def use_home(home, monkeypatch) -> Settings:
    """Point `tvs` at ``home`` (as ``TVS_HOME``) and return its settings."""
    monkeypatch.setenv("TVS_HOME", str(home))
    monkeypatch.delenv("TVS_LAKE", raising=False)
    return load_settings()


def materialise(settings: Settings, instance: dg.DagsterInstance, day: str, **kwargs):
    """Run both assets for ``day`` with the IO manager the pipeline builds from settings."""
    return dg.materialize(
        [prices, span],
        partition_key=day,
        instance=instance,
        resources={"io_manager": build_resources(settings)["io_manager"]},
        **kwargs,
    )


def sql(capsys, query: str) -> tuple[int, str, list[str]]:
    """``tvs sql <query>``: exit code, stdout, stderr lines."""
    code = main(["sql", query])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


@pytest.fixture
def lake(tmp_path, monkeypatch) -> Settings:
    """A home whose lake holds two days of ``prices`` and ``span``, written by a run."""
    settings = use_home(tmp_path / "home", monkeypatch)
    with dg.instance_for_test() as instance:
        for day in DAYS[:2]:
            assert materialise(settings, instance, day).success
    return settings


def test_select_reads_the_lake_and_a_run_writes_no_database_file(lake, tmp_path, capsys):
    assert list((tmp_path / "home").rglob("*.duckdb*")) == []
    code, out, err = sql(capsys, "select count(*) as n, max(date) as last from prices")
    assert code == 0, err
    assert out.split()[-2:] == ["4", "2025-01-02"]
    code, out, _ = sql(capsys, "select days, rows from span where date = '2025-01-02'")
    assert code == 0 and out.split()[-2:] == ["2", "4"]  # the asset read a two-day window


def test_show_tables_lists_the_assets_and_a_file_of_the_lake_reads(lake, capsys):
    code, out, _ = sql(capsys, "show tables")
    assert code == 0 and out.split()[1:] == ["prices", "span"]
    part = f"{lake.lake_root}/prices/date=2025-01-01/part.parquet"
    code, out, err = sql(capsys, f"select count(*) as n from read_parquet('{part}')")
    assert code == 0 and out.split()[-1] == "2", err


OUTSIDE = "outside.parquet"  # written beside the home: a real Parquet file outside the lake

ESCAPES = {
    "read-csv-passwd": (
        "select * from read_csv('/etc/passwd')",
        'Cannot access file "/etc/passwd"',
    ),
    "read-text-shadow": ("select * from read_text('/etc/shadow')", "Permission Error"),
    "read-parquet-outside": (
        f"select * from read_parquet('{{tmp}}/{OUTSIDE}')",
        "Permission Error",
    ),
    "glob-etc": ("select * from glob('/etc/*')", "Permission Error"),
    "query-read-text": (
        "select * from query('select * from read_text(''/etc/passwd'')')",
        "Permission Error",
    ),
    "copy-into-lake": (
        "copy (select 1 as x) to '{lake}/prices/date=2025-01-01/part.parquet' (format parquet)",
        "statement 1 is COPY, not SELECT",
    ),
    "copy-to-tmp": ("copy (select 1 as x) to '{tmp}/x.csv'", "statement 1 is COPY, not SELECT"),
    "select-then-copy": (
        "select 1; copy (select 1 as x) to '{tmp}/x.csv'",
        "sql: 2 statements; `tvs sql` runs one SELECT",
    ),
    "export-into-lake": ("export database '{lake}/dump'", "statement 1 is EXPORT, not SELECT"),
    "attach-file": ("attach '{tmp}/other.duckdb' as other", "statement 1 is ATTACH, not SELECT"),
    "attach-memory": ("attach ':memory:' as other", "statement 1 is ATTACH, not SELECT"),
    "install": ("install httpfs", "statement 1 is LOAD, not SELECT"),
    "load": ("load parquet", "statement 1 is LOAD, not SELECT"),
    "set": ("set enable_external_access = true", "statement 1 is SET, not SELECT"),
    "reset": ("reset lock_configuration", "statement 1 is SET, not SELECT"),
    "set-variable": ("set variable x = 1", "statement 1 is SET, not SELECT"),
    "pragma": ("pragma enable_profiling", "statement 1 is PRAGMA, not SELECT"),
    "call": ("call duckdb_settings()", "statement 1 is CALL, not SELECT"),
    "create": ("create table t as select 1 as x", "statement 1 is CREATE, not SELECT"),
    "drop-view": ("drop view prices", "statement 1 is DROP, not SELECT"),
}


@pytest.mark.parametrize(("query", "message"), list(ESCAPES.values()), ids=list(ESCAPES))
def test_every_escape_is_refused_in_one_line(lake, tmp_path, capsys, query, message):
    pd.DataFrame({"secret": [42]}).to_parquet(tmp_path / OUTSIDE)
    part = tmp_path / "home" / "lake" / "prices" / "date=2025-01-01" / "part.parquet"
    before = part.read_bytes()
    code, out, err = sql(capsys, query.format(lake=lake.lake_root, tmp=tmp_path))
    assert code == 2
    assert out == ""  # nothing read is printed
    assert len(err) == 1 and message in err[0], err
    assert part.read_bytes() == before
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "other.duckdb").exists()
    assert not (tmp_path / "home" / "lake" / "dump").exists()


def test_a_parser_error_is_its_whole_message_on_one_line(lake, capsys):
    code, _, err = sql(capsys, "selec count(*) from prices")
    assert code == 2 and len(err) == 1
    assert 'syntax error at or near "selec"' in err[0]
    assert "at line 1: selec count(*) from prices" in err[0]


def test_a_missing_table_names_the_lake_assets(lake, capsys):
    code, _, err = sql(capsys, "select * from nope")
    assert code == 2 and len(err) == 1
    assert "nope does not exist" in err[0] and err[0].endswith("the lake has prices, span")


@pytest.mark.parametrize("name", ["it's home", "home [1]*"], ids=["quote", "glob-characters"])
def test_a_home_with_sql_or_glob_characters_runs_and_reads(tmp_path, monkeypatch, capsys, name):
    settings = use_home(tmp_path / name, monkeypatch)
    with dg.instance_for_test() as instance:
        for day in DAYS[:2]:
            assert materialise(settings, instance, day).success
    code, out, err = sql(capsys, "select days, rows from span where date = '2025-01-02'")
    assert code == 0 and out.split()[-2:] == ["2", "4"], err
    code, out, err = sql(capsys, "select count(*) as n from prices")
    assert code == 0 and out.split()[-1] == "4", err


def test_a_copied_home_reads_its_own_lake(lake, tmp_path, monkeypatch, capsys):
    assert sql(capsys, "select count(*) as n from prices")[0] == 0
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "home", copy)
    shutil.rmtree(tmp_path / "home")
    use_home(copy, monkeypatch)
    code, out, err = sql(capsys, "select count(*) as n from prices")
    assert code == 0 and out.split()[-1] == "4", err


def root_cause(error) -> str:
    """The first line of the innermost cause of a step's serialised error."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip().splitlines()[0]


READER_LOOP = """
import contextlib, io, pathlib, sys
from tvs_pipeline.cli import main
stop, ready = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
queries = failures = 0
while not stop.exists() and queries < 20000:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["sql", "select count(*) as n from prices"])
    queries += 1
    if code:
        failures += 1
        print(err.getvalue().strip(), file=sys.stderr)
    ready.touch()
print(queries, failures)
"""


@pytest.mark.slow
def test_a_tvs_sql_loop_never_fails_a_run(lake, tmp_path):
    """Issue 18.1: with the shared catalog file, 5 of 7 runs failed on its lock."""
    stop, ready = tmp_path / "stop", tmp_path / "ready"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER_LOOP, str(stop), str(ready)],
        env={**os.environ, "TVS_HOME": str(tmp_path / "home")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    failed = []
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and reader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), reader.stderr.read() if reader.poll() is not None else "no query"
        with dg.instance_for_test() as instance:
            for day in DAYS[2:]:
                result = materialise(lake, instance, day, raise_on_error=False)
                failed += [
                    f"{day}: {root_cause(event.step_failure_data.error)}"
                    for event in result.get_step_failure_events()
                ]
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=120)
    assert failed == []
    queries, failures = map(int, out.split())
    assert queries > len(DAYS) and failures == 0, err
