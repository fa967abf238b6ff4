"""Chunked backfills through Dagster's own machinery: an asset backfill run by a real daemon.

A 40-day backfill of the champion path is submitted as 4 chunks of 10 days to a
``dagster-daemon`` whose run queue admits 2 runs at once; every partition must equal the same
days backfilled as one run (compared frame by frame by benchmarks/lake_equal.py).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.utils import make_new_run_id

from tvs_pipeline.definitions import build_definitions
from tvs_pipeline.defs.backfill import (
    BACKFILL_PATH,
    backfill_runs,
    chunk_policy,
    chunked_asset_names,
    chunking_note,
    follow_backfill,
    run_chunked_backfill,
    submit_backfill,
)
from tvs_pipeline.defs.carry import day_before
from tvs_pipeline.defs.jobs import NIGHTLY_ASSETS
from tvs_pipeline.defs.partitions import bars_window
from tvs_pipeline.defs.runner import prepare_instance, run_job
from tvs_pipeline.settings import load_settings

FIRST, LAST, CHUNK = "2025-05-22", "2025-06-30", 10  # 40 days, 4 chunks
CHUNKS = [
    ("2025-05-22", "2025-05-31"),
    ("2025-06-01", "2025-06-10"),
    ("2025-06-11", "2025-06-20"),
    ("2025-06-21", "2025-06-30"),
]
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def lake_equal():
    spec = importlib.util.spec_from_file_location("lake_equal", BENCHMARKS / "lake_equal.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def queued_instance(settings, max_runs: int = 2) -> Path:
    """$TVS_HOME/dagster with a run queue of ``max_runs`` and tvs's tag limits."""
    home = settings.dagster_home
    home.mkdir(parents=True)
    config = {
        "telemetry": {"enabled": False},
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "max_concurrent_runs": max_runs,
                "dequeue_interval_seconds": 1,
                "tag_concurrency_limits": [
                    {"key": "tvs/path", "value": "champion", "limit": 1},
                    {"key": "tvs/path", "value": BACKFILL_PATH, "limit": max_runs},
                ],
            },
        },
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return prepare_instance(settings)


def test_chunk_policy_gives_single_run_assets_k_day_runs():
    @dg.asset(partitions_def=dg.DailyPartitionsDefinition("2025-01-01"),
              backfill_policy=dg.BackfillPolicy.single_run())  # fmt: skip
    def daily() -> None: ...

    @dg.asset
    def plain() -> None: ...

    @dg.asset(partitions_def=daily.partitions_def, backfill_policy=dg.BackfillPolicy.single_run(),
              deps=[day_before("carried")])  # fmt: skip
    def carried() -> None: ...

    @dg.asset(partitions_def=daily.partitions_def, backfill_policy=dg.BackfillPolicy.single_run(),
              deps=[bars_window(5, before=True)])  # fmt: skip
    def bars() -> None: ...

    chunked = chunk_policy([daily, plain, carried, bars], 10)
    assert chunked[0].backfill_policy == dg.BackfillPolicy.multi_run(10)
    assert chunked[1].backfill_policy == plain.backfill_policy
    assert chunked[2].backfill_policy == dg.BackfillPolicy.single_run()  # reads D-1
    assert chunked[3].backfill_policy == dg.BackfillPolicy.single_run()  # a window of itself
    assert chunk_policy([daily], 0)[0] is daily


@pytest.mark.slow
@pytest.mark.heavy  # minutes: `pytest -m heavy`
def test_a_40_day_backfill_in_4_chunks_by_the_daemon_equals_the_single_run(tmp_path):
    single = load_settings({"TVS_HOME": str(tmp_path / "single")})
    outcome = run_job(single, "nightly", partition_range=(FIRST, LAST))
    assert outcome.success, outcome.failure

    chunked = replace(load_settings({"TVS_HOME": str(tmp_path / "chunked")}), chunk_days=CHUNK)
    home = queued_instance(chunked)
    lines: list[str] = []
    (done,) = run_chunked_backfill(
        chunked, FIRST, LAST, CHUNK, report=lines.append, timeout=1500, paths=("nightly",)
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = backfill_runs(instance, done.backfill_id)
        records = instance.get_run_records(filters=dg.RunsFilter(run_ids=[r.run_id for r in runs]))
        (sync,) = instance.get_runs(filters=dg.RunsFilter(job_name="bars_sync"))
    assert done.success, (done, (home / "daemon.log").read_text()[-3000:])
    assert lines[0] == f"bars_sync: discovery and bars over {FIRST}..{LAST} as one run"
    assert lines[-1].endswith(f"{len(runs)} runs ({len(runs)} success)"), lines
    # The daemon tvs started ran the asked chunks, read from its runs: no warning.
    assert done.chunk_days == CHUNK and not [line for line in lines if "warning" in line]
    assert sync.is_success and sync.tags[RANGE_START] == FIRST and sync.tags[RANGE_END] == LAST
    check_runs(runs, records)
    assert_lakes_equal(single.home, chunked.home)


def assert_lakes_equal(before: Path, after: Path) -> None:
    """Every partition file of both lakes, frame for frame (benchmarks/lake_equal.py's reading).

    ``report_path`` is left out: a run writes one tear sheet, for its last day, so which days
    carry a path depends on where the runs end, not on the data.
    """
    module = lake_equal()
    old, new = module.partition_files(before), module.partition_files(after)
    assert sorted(old) == sorted(new)
    for key in old:
        a = module._rooted(pd.read_parquet(old[key]), before)
        b = module._rooted(pd.read_parquet(new[key]), after)
        if "report_path" in a:
            a, b = a.drop(columns="report_path"), b.drop(columns="report_path")
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=key)


def check_runs(runs, records) -> None:
    """The backfill's runs: chunks where the days are independent, order where they are not,
    every day once, and never more than 2 runs at once."""
    spans: dict[str, list[tuple[str, str]]] = {}
    for run in runs:
        for key in run.asset_selection:
            spans.setdefault(key.to_user_string(), []).append(
                (run.tags[RANGE_START], run.tags[RANGE_END])
            )
        assert run.tags["tvs/path"] == BACKFILL_PATH
    # bars reads a window of its own past: it ran before, in bars_sync.
    assert set(spans) == set(NIGHTLY_ASSETS) - {"discovery", "bars", "fetch_failures"}
    # The day-independent assets ran in the 4 chunks of 10 days, each chunk once.
    for asset in ("data_health", "normalization", "enrichment", "dedup", "selection"):
        assert sorted(spans[asset]) == CHUNKS, asset
    # Every asset's runs cover the 40 days once, in order: those that read day D-1
    # (allocation, simulation) and what reads them run on what is ready, not in chunks.
    for asset, seen in spans.items():
        days = [
            day
            for start, end in sorted(seen)
            for day in pd.date_range(start, end).strftime("%Y-%m-%d")
        ]
        assert days == list(pd.date_range(FIRST, LAST).strftime("%Y-%m-%d")), asset
    # The queue never held more than 2 runs at once.
    times = [(r.start_time, r.end_time) for r in records]
    assert all(start and end for start, end in times)
    for start, _ in times:
        assert sum(1 for s, e in times if s <= start < e) <= 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--chunk-days", "-1"], "backfill: --chunk-days -1: expected an integer >= 0"),
        (["--chunk-days", "5", "--scale", "200"], "drop --profile, --source and --scale"),
    ],
    ids=["negative", "with-scale"],
)
def test_a_refused_chunked_backfill_is_one_line_and_leaves_nothing(tmp_path, options, message):
    command = [sys.executable, "-m", "tvs_pipeline.cli", "backfill"]
    command += ["--start", "2025-06-01", "--end", "2025-06-10", *options]
    env = {**os.environ, "TVS_HOME": str(tmp_path / "home")}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "home" / "dagster").exists()


def test_a_code_server_that_cannot_load_the_definitions_is_one_line(tmp_path):
    from tvs_pipeline.defs.backfill import running_daemon
    from tvs_pipeline.errors import ConfigError

    # The definitions refuse a bad TVS_CHUNK_DAYS when the server imports them.
    env = {**os.environ, "TVS_HOME": str(tmp_path), "TVS_CHUNK_DAYS": "ten"}
    with pytest.raises(ConfigError, match=r"code server for .*: exited 1 before it answered"):
        with running_daemon(tmp_path, env):
            pass
    assert "TVS_CHUNK_DAYS='ten': expected an integer >= 1" in (tmp_path / "daemon.log").read_text()


def queue_limits(home: Path) -> dict[tuple[str, str], int]:
    """The tag limits of the run queue of the instance at ``home``, as its daemon reads them."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        queue = instance.get_concurrency_config().run_queue_config
    return {(t["key"], t.get("value")): t["limit"] for t in queue.tag_concurrency_limits}


def test_the_instance_tvs_writes_gives_backfill_chunks_their_own_limit(tmp_path):
    home = prepare_instance(load_settings({"TVS_HOME": str(tmp_path)}))
    # Runbook §9: one champion run at a time, two backfill chunks at a time (the cores here).
    assert queue_limits(home) == {("tvs/path", "champion"): 1, ("tvs/path", BACKFILL_PATH): 2}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 1  # not Dagster's 5


def test_an_instance_written_before_the_limit_gets_it_unless_edited(tmp_path):
    from tvs_pipeline.defs.runner import DAGSTER_YAML_BEFORE_BACKFILL_LIMIT

    settings = load_settings({"TVS_HOME": str(tmp_path)})
    home = prepare_instance(settings)
    old = DAGSTER_YAML_BEFORE_BACKFILL_LIMIT.replace("{home}", str(home.resolve()))
    (home / "dagster.yaml").write_text(old)
    assert queue_limits(home) == {("tvs/path", "champion"): 1}
    prepare_instance(settings)  # what every `tvs` command does first
    assert queue_limits(home)[("tvs/path", BACKFILL_PATH)] == 2
    edited = old.replace("limit: 1", "limit: 3")  # the operator's own limits stay
    (home / "dagster.yaml").write_text(edited)
    prepare_instance(settings)
    assert (home / "dagster.yaml").read_text() == edited


# ------------------------------------------- the chunks a running daemon chose (review 6)
def daemon_run(instance, backfill_id: str, asset: str, first: str, last: str) -> None:
    """A finished run of ``asset`` over ``first..last`` as the daemon files it for a backfill."""
    instance.add_run(
        dg.DagsterRun(
            job_name="__ASSET_JOB",
            run_id=make_new_run_id(),
            status=dg.DagsterRunStatus.SUCCESS,
            asset_selection=frozenset({dg.AssetKey(asset)}),
            tags={"dagster/backfill": backfill_id, RANGE_START: first, RANGE_END: last},
        )
    )


@pytest.mark.parametrize(
    ("daemon_chunks", "expected", "warned"),
    [
        # The daemon's own TVS_CHUNK_DAYS=20: two runs of 20 days where 10 were asked.
        ([("2025-05-22", "2025-06-10"), ("2025-06-11", "2025-06-30")], 20, True),
        # No TVS_CHUNK_DAYS in the daemon: one run over the 40 days.
        ([(FIRST, LAST)], 40, True),
        # The asked 10: the 4 chunks.
        (CHUNKS, 10, False),
    ],
    ids=["daemon-k20", "daemon-unchunked", "as-asked"],
)
def test_the_chunks_reported_are_the_ones_the_daemon_ran(tmp_path, daemon_chunks, expected, warned):
    settings = replace(load_settings({"TVS_HOME": str(tmp_path)}), chunk_days=CHUNK)
    defs = build_definitions(settings)
    split = chunked_asset_names(defs)
    assert {"selection", "data_health"} <= split and not {"allocation", "simulation"} & split
    with dg.DagsterInstance.from_config(str(prepare_instance(settings))) as instance:
        backfill_id = submit_backfill(instance, defs, ["selection"], FIRST, LAST, title="nightly")
        for first, last in daemon_chunks:
            daemon_run(instance, backfill_id, "selection", first, last)
        # allocation reads D-1: one run over the range whatever the chunks; not counted.
        daemon_run(instance, backfill_id, "allocation", FIRST, LAST)
        done = instance.get_backfill(backfill_id).with_status(BulkActionStatus.COMPLETED_SUCCESS)
        instance.update_backfill(done)
        outcome = follow_backfill(instance, backfill_id, report=lambda line: None, chunked=split)
    assert outcome.success and len(outcome.runs) == len(daemon_chunks) + 1
    assert outcome.chunk_days == expected
    note = chunking_note("nightly", outcome, CHUNK, 40)
    if warned:
        assert note == (
            f"warning: nightly backfill {backfill_id} ran in runs of up to {expected} days, "
            "not 10: the running daemon's TVS_CHUNK_DAYS decides (restart it with "
            "TVS_CHUNK_DAYS=10)"
        )
    else:
        assert note == ""
