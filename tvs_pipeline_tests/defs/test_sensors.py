"""The sensors after a finished nightly run: the challenger's shadow run, the tournament."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pandas as pd

from tvs_pipeline.definitions import build_definitions
from tvs_pipeline.defs.sensors import (
    record_run_success,
    shadow_after_nightly,
    tournament_after_nightly,
)
from tvs_pipeline.defs.shadow import CLI_LAUNCHED, LAUNCHER_TAG
from tvs_pipeline.lake.ledger import read_records, verify_ledger
from tvs_pipeline.lake.storage import partition_path, write_parquet_atomic

DAY = "2025-06-30"


def test_nightly_success_requests_the_shadow_run_for_its_partition(settings, monkeypatch):
    monkeypatch.setenv("TVS_HOME", str(settings.home))
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("nightly").execute_in_process(
            partition_key=DAY, instance=instance
        )
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        success = next(
            e
            for e in instance.all_logs(result.run_id)
            if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_SUCCESS"
        )
        context = dg.build_run_status_sensor_context(
            sensor_name="shadow_after_nightly",
            dagster_event=success.dagster_event,
            dagster_instance=instance,
            dagster_run=run,
        )
        # One stored day is no history for a tournament: skipped, with the reason.
        thin = tournament_after_nightly(context)
        assert isinstance(thin, dg.SkipReason) and "needs two" in thin.skip_message
        request = shadow_after_nightly(context)
        assert isinstance(request, dg.RunRequest)
        assert request.partition_key == DAY
        assert request.run_key == f"{DAY}:{result.run_id}"
        assert request.tags["tvs/champion_run_id"] == result.run_id
        record_run_success(context)
        shadow = defs.resolve_job_def("shadow").execute_in_process(
            partition_key=request.partition_key, instance=instance, tags=request.tags
        )
        assert shadow.success
        checks = {e.asset_check_key.name for e in shadow.get_asset_check_evaluations()}
        assert checks == {"parity_within_thresholds", "exposure_on_target"}
    outcomes = [
        r for r in read_records(settings.ledger_dir / "audit.jsonl") if r["kind"] == "run_outcome"
    ]
    assert outcomes[-1]["payload"]["run_id"] == result.run_id
    assert verify_ledger(settings.ledger_dir / "audit.jsonl").ok


def test_range_run_is_skipped(settings):
    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(
            build_definitions(settings).resolve_job_def("nightly"),
            tags={
                "dagster/asset_partition_range_start": "2025-06-01",
                "dagster/asset_partition_range_end": "2025-06-30",
            },
        )
        context = dg.build_run_status_sensor_context(
            sensor_name="shadow_after_nightly",
            dagster_event=dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name="nightly"),
            dagster_instance=instance,
            dagster_run=run,
        )
        skipped = shadow_after_nightly(context)
    assert isinstance(skipped, dg.SkipReason)
    assert "range run" in skipped.skip_message


def test_sensor_through_its_cursor(settings, monkeypatch):
    """The first tick only sets the cursor; the next one sees the finished nightly run."""
    monkeypatch.setenv("TVS_HOME", str(settings.home))
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("shadow_after_nightly")
    repository = defs.get_repository_def()
    with dg.instance_for_test() as instance:
        first = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, repository_def=repository)
        )
        assert not first.run_requests and first.cursor
        result = defs.resolve_job_def("nightly").execute_in_process(
            partition_key=DAY, instance=instance
        )
        assert result.success
        second = sensor.evaluate_tick(
            dg.build_sensor_context(
                instance=instance, repository_def=repository, cursor=first.cursor
            )
        )
        assert [r.partition_key for r in second.run_requests] == [DAY]
        assert second.run_requests[0].run_key == f"{DAY}:{result.run_id}"


def test_runs_launched_by_tvs_are_left_to_tvs(settings):
    """`tvs run` follows its nightly run with the shadow run and records both outcomes."""
    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(
            build_definitions(settings).resolve_job_def("nightly"),
            tags={"dagster/partition": DAY, LAUNCHER_TAG: CLI_LAUNCHED},
        )
        context = dg.build_run_status_sensor_context(
            sensor_name="shadow_after_nightly",
            dagster_event=dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name="nightly"),
            dagster_instance=instance,
            dagster_run=run,
        )
        assert "launched by tvs" in shadow_after_nightly(context).skip_message
        assert "recorded" in record_run_success(context).skip_message
    assert not (settings.ledger_dir / "audit.jsonl").exists()


def test_the_tournament_follows_a_nightly_run_once_two_rebalance_dates_are_stored(
    settings, monkeypatch
):
    monkeypatch.setenv("TVS_HOME", str(settings.home))
    # 45 stored dedup days of a 24/7 listing: sessions are numbered from 2015-01-01 and every
    # 20th is a rebalance date (run.step): 2025-05-28 and 2025-06-17 by hand.
    end = date.fromisoformat(DAY)
    for back in range(45):
        day = end - timedelta(days=back)
        frame = pd.DataFrame({"symbol": ["BTCUSD"], "sleeve": ["crypto"], "calendar": ["24/7"]})
        write_parquet_atomic(frame, partition_path(settings.lake_root, "dedup", day))
    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(
            build_definitions(settings).resolve_job_def("nightly"),
            tags={"dagster/partition": DAY},
        )
        context = dg.build_run_status_sensor_context(
            sensor_name="tournament_after_nightly",
            dagster_event=dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name="nightly"),
            dagster_instance=instance,
            dagster_run=run,
        )
        decided = tournament_after_nightly(context)
    assert isinstance(decided, dg.RunRequest) and decided.partition_key == DAY
    assert decided.run_key == f"tournament:{DAY}:{run.run_id}"
