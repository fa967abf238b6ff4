from tvs_pipeline.defs.shadow import CLI_LAUNCHED, LAUNCHER_TAG, FinishedRun, shadow_run_requests


def test_single_partition_champion_runs_get_a_shadow_run():
    runs = [
        FinishedRun("r1", "nightly", {"dagster/partition": "2026-06-30"}),
        FinishedRun(
            "r2",
            "nightly",
            {
                "dagster/asset_partition_range_start": "2026-01-01",
                "dagster/asset_partition_range_end": "2026-06-30",
            },
        ),
        FinishedRun("r3", "nightly", {"dagster/partition": "2026-06-29", "dagster/backfill": "b1"}),
        FinishedRun("r4", "shadow", {"dagster/partition": "2026-06-30"}),
        FinishedRun("r5", "nightly", {}),
        FinishedRun(
            "r6", "nightly", {"dagster/partition": "2026-06-30", LAUNCHER_TAG: CLI_LAUNCHED}
        ),
    ]
    requests, skipped = shadow_run_requests(runs)
    assert [(r.partition_key, r.run_key) for r in requests] == [("2026-06-30", "2026-06-30:r1")]
    assert len(skipped) == 5
    assert any("r6: launched by tvs" in s for s in skipped)
    assert any("backfill b1" in s for s in skipped)
    assert any("range run" in s for s in skipped)


def test_decision_is_idempotent():
    runs = [FinishedRun("r1", "nightly", {"dagster/partition": "2026-06-30"})]
    assert shadow_run_requests(runs) == shadow_run_requests(runs)
