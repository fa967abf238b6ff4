"""The freshness check compares the newest report partition with the latest complete day."""

from __future__ import annotations

import dagster as dg
import pytest

from tvs_pipeline.definitions import build_definitions
from tvs_pipeline.defs.partitions import DAILY


@pytest.mark.parametrize(("offset", "passed"), [(0, True), (3, False)], ids=["latest", "stale"])
def test_latest_partition_fresh(settings, offset, passed):
    defs = build_definitions(settings)
    keys = DAILY.get_partition_keys()
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key="performance_report", partition=keys[-1 - offset])
        )
        result = defs.resolve_job_def("freshness_audit").execute_in_process(instance=instance)
        evaluations = result.get_asset_check_evaluations()
    assert [e.passed for e in evaluations] == [passed]
    assert evaluations[0].metadata["newest_partition"].value == keys[-1 - offset]
