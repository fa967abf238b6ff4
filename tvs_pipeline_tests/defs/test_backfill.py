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
    backfill_concurrency,
    backfill_runs,
    backfill_stages,
    chunk_policy,
    chunked_asset_names,
    chunking_note,
    covers,
    follow_backfill,
    run_chunked_backfill,
    submit_backfill,
    tail_assets,
)
from tvs_pipeline.defs.carry import day_before
from tvs_pipeline.defs.jobs import NIGHTLY_ASSETS
from tvs_pipeline.defs.partitions import bars_window
from tvs_pipeline.defs.resources import WORKERS_TAG, ComputeResource
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
              deps=[day_before("carried"), daily])  # fmt: skip
    def carried() -> None: ...

    @dg.asset(partitions_def=daily.partitions_def, backfill_policy=dg.BackfillPolicy.single_run(),
              deps=[bars_window(5, before=True)])  # fmt: skip
    def bars() -> None: ...

    @dg.asset(partitions_def=daily.partitions_def, backfill_policy=dg.BackfillPolicy.single_run(),
              deps=[carried])  # fmt: skip
    def report() -> None: ...

    @dg.asset(partitions_def=daily.partitions_def, backfill_policy=dg.BackfillPolicy.single_run(),
              deps=[bars])  # fmt: skip
    def health() -> None: ...

    chunked = chunk_policy([daily, plain, carried, bars, report, health], 10)
    assert chunked[0].backfill_policy == dg.BackfillPolicy.multi_run(10)
    assert chunked[1].backfill_policy == plain.backfill_policy
    assert chunked[2].backfill_policy == dg.BackfillPolicy.single_run()  # reads D-1
    assert chunked[3].backfill_policy == dg.BackfillPolicy.single_run()  # a window of itself
    # What reads a day-ordered asset waits for all of it: one run after it, not chunks.
    assert chunked[4].backfill_policy == dg.BackfillPolicy.single_run()
    # bars is synced first, on its own: what reads it is chunked like the rest.
    assert chunked[5].backfill_policy == dg.BackfillPolicy.multi_run(10)
    assert chunk_policy([daily], 0)[0] is daily


def test_the_second_stage_is_what_carries_a_day_and_what_reads_it():
    defs = build_definitions(load_settings({}))
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    # By hand from the graph: the two books and track records read D-1; the report, the
    # parity and the promotion report read them.
    assert tail_assets(assets) == {
        "allocation",
        "simulation",
        "performance_report",
        "allocation_challenger",
        "simulation_challenger",
        "selection_parity",
        "promotion_report",
    }


def test_the_stages_run_each_path_in_order_beside_the_other_and_then_what_reads_both():
    defs = build_definitions(replace(load_settings({}), chunk_days=CHUNK))
    chunks = ["data_health", "normalization", "enrichment", "dedup", "selection", "synthesis"]
    chunks += ["market", "selection_challenger", "synthesis_challenger"]
    assert backfill_stages(defs, ("nightly", "shadow")) == [
        [("nightly+shadow chunks", chunks)],
        [
            ("nightly in order", ["allocation", "simulation", "performance_report"]),
            ("shadow in order", ["allocation_challenger", "simulation_challenger"]),
        ],
        # The parity reads both books; the promotion report both track records.
        [("nightly+shadow in order", ["selection_parity", "promotion_report"])],
    ]
    assert backfill_stages(defs, ("nightly",)) == [
        [("nightly chunks", chunks[:7])],
        [("nightly in order", ["allocation", "simulation", "performance_report"])],
    ]


@pytest.mark.parametrize(
    ("max_runs", "backfill_limit", "expected"),
    [(2, 2, 2), (3, 1, 1), (1, 4, 1), (-1, 3, 3), (-1, None, 0)],
)
def test_the_runs_a_backfill_gets_at_once_are_the_least_limit(
    tmp_path, max_runs, backfill_limit, expected
):
    limits = [{"key": "tvs/path", "value": "champion", "limit": 1}]
    if backfill_limit is not None:
        limits.append({"key": "tvs/path", "value": BACKFILL_PATH, "limit": backfill_limit})
    config = {
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"max_concurrent_runs": max_runs, "tag_concurrency_limits": limits},
        }
    }
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert backfill_concurrency(instance) == expected
    default = {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump({"run_coordinator": default}))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert backfill_concurrency(instance) == 0  # no queue: runs start as submitted


@pytest.mark.parametrize(("tag", "expected"), [("3", 3), (None, 2), ("0", 2), ("two", 2)])
def test_a_run_tagged_tvs_workers_spreads_its_days_over_that_many(tag, expected):
    seen: list[int] = []

    @dg.asset
    def probe(compute: ComputeResource) -> None:
        seen.append(compute.run_workers)

    tags = {WORKERS_TAG: tag} if tag is not None else {}
    result = dg.materialize([probe], resources={"compute": ComputeResource(workers=2)}, tags=tags)
    assert result.success and seen == [expected]


@pytest.mark.slow
@pytest.mark.heavy  # minutes: `pytest -m heavy`
def test_a_40_day_backfill_in_4_chunks_by_the_daemon_equals_the_single_run(tmp_path):
    single = load_settings({"TVS_HOME": str(tmp_path / "single")})
    outcome = run_job(single, "nightly", partition_range=(FIRST, LAST))
    assert outcome.success, outcome.failure

    chunked = replace(load_settings({"TVS_HOME": str(tmp_path / "chunked")}), chunk_days=CHUNK)
    home = queued_instance(chunked)
    lines: list[str] = []
    outcomes = run_chunked_backfill(
        chunked, FIRST, LAST, CHUNK, report=lines.append, timeout=1500, paths=("nightly",)
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = [backfill_runs(instance, done.backfill_id) for done in outcomes]
        ids = [run.run_id for stage in runs for run in stage]
        records = instance.get_run_records(filters=dg.RunsFilter(run_ids=ids))
        (sync,) = instance.get_runs(filters=dg.RunsFilter(job_name="bars_sync"))
    assert [done.success for done in outcomes] == [True, True], (
        outcomes,
        (home / "daemon.log").read_text()[-3000:],
    )
    assert lines[0] == f"bars_sync: discovery and bars over {FIRST}..{LAST} as one run"
    assert lines[-1].endswith(f"{len(runs[1])} runs ({len(runs[1])} success)"), lines
    # The daemon tvs started ran the asked chunks, read from its runs: no warning.
    assert outcomes[0].chunk_days == CHUNK and not [line for line in lines if "warning" in line]
    assert sync.is_success and sync.tags[RANGE_START] == FIRST and sync.tags[RANGE_END] == LAST
    check_runs(runs, records, chunked.workers)
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


def check_runs(stages, records, workers: int) -> None:
    """The backfills' runs: chunks where the days are independent, then one run per stage over
    the range where they are not, every day once, never more than 2 runs at once."""
    spans: dict[str, list[tuple[str, str]]] = {}
    for stage, runs in enumerate(stages):
        for run in runs:
            for key in run.asset_selection:
                spans.setdefault(key.to_user_string(), []).append(
                    (run.tags[RANGE_START], run.tags[RANGE_END])
                )
            assert run.tags["tvs/path"] == BACKFILL_PATH
            # 2 runs at once share the cores; the runs in order have them all.
            assert run.tags[WORKERS_TAG] == str(max(1, workers // 2) if stage == 0 else workers)
    # bars reads a window of its own past: it ran before, in bars_sync.
    assert set(spans) == set(NIGHTLY_ASSETS) - {"discovery", "bars", "fetch_failures"}
    # The day-independent assets ran in the 4 chunks of 10 days, each chunk once.
    for asset in ("data_health", "normalization", "enrichment", "dedup", "selection", "market"):
        assert sorted(spans[asset]) == CHUNKS, asset
    # Those that read day D-1 (allocation, simulation) and what reads them: one run each.
    for asset in ("allocation", "simulation", "performance_report"):
        assert spans[asset] == [(FIRST, LAST)], asset
    # Every asset's runs cover the 40 days once.
    for asset, seen in spans.items():
        days = [
            day
            for start, end in sorted(seen)
            for day in pd.date_range(start, end).strftime("%Y-%m-%d")
        ]
        assert days == list(pd.date_range(FIRST, LAST).strftime("%Y-%m-%d")), asset
    times = {r.dagster_run.run_id: (r.start_time, r.end_time) for r in records}
    assert all(start and end for start, end in times.values())
    # The second stage started after the last chunk ended.
    chunks_end = max(times[run.run_id][1] for run in stages[0])
    assert min(times[run.run_id][0] for run in stages[1]) >= chunks_end
    # The queue never held more than 2 runs at once.
    for start, _ in times.values():
        assert sum(1 for s, e in times.values() if s <= start < e) <= 2


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


def finished_run(assets: tuple[str, ...], first: str, last: str, status=None) -> dg.DagsterRun:
    return dg.DagsterRun(
        job_name="__ASSET_JOB",
        run_id=make_new_run_id(),
        status=status or dg.DagsterRunStatus.SUCCESS,
        asset_selection=frozenset(dg.AssetKey(name) for name in assets),
        tags={RANGE_START: first, RANGE_END: last},
    )


def test_a_stage_is_covered_when_successful_runs_hold_every_day_of_every_asset():
    both = ("selection", "synthesis")
    runs = [finished_run(both, *chunk) for chunk in CHUNKS]
    assert covers(runs, both, FIRST, LAST)
    assert not covers(runs[:3], both, FIRST, LAST)  # the last 10 days missing
    assert not covers(runs, (*both, "market"), FIRST, LAST)  # an asset no run held
    # A failed run holds nothing, even when its range is right.
    failed = finished_run(both, *CHUNKS[1], status=dg.DagsterRunStatus.FAILURE)
    assert not covers([runs[0], failed, *runs[2:]], both, FIRST, LAST)
    # One day short at a chunk's edge: 2025-05-31 is in no run.
    edge = [finished_run(both, FIRST, "2025-05-30"), *runs[1:]]
    assert not covers(edge, both, FIRST, LAST)
    # A run of one day carries dagster/partition instead of a range.
    single_day = dg.DagsterRun(
        job_name="__ASSET_JOB",
        run_id=make_new_run_id(),
        status=dg.DagsterRunStatus.SUCCESS,
        asset_selection=frozenset(dg.AssetKey(name) for name in both),
        tags={"dagster/partition": "2025-05-31"},
    )
    assert covers([*edge, single_day], both, FIRST, LAST)


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
    assert {"selection", "data_health"} <= split
    assert not {"allocation", "simulation", "performance_report"} & split
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
