"""The range helper: a core day function over the days of a real (range) run."""

# No `from __future__ import annotations`: the probe asset's annotations are read by Dagster.

from datetime import date

import dagster as dg
import pandas as pd
import pytest

from tvs_pipeline.defs.days import day_verdict, run_days
from tvs_pipeline.defs.partitions import DAILY, day_check
from tvs_pipeline.defs.resources import ComputeResource
from tvs_pipeline.lake.io_manager import LakeIOManagerResource
from tvs_pipeline.lake.ledger import AUDIT_TRAIL_ATTR

DAYS = ["2026-01-01", "2026-01-02", "2026-01-03"]
RANGE = {
    "dagster/asset_partition_range_start": DAYS[0],
    "dagster/asset_partition_range_end": DAYS[-1],
}
# Two rows a day, the days out of order: each day must get exactly its own rows.
INPUT = pd.DataFrame(
    {
        "date": pd.to_datetime([DAYS[2], DAYS[0], DAYS[1], DAYS[0], DAYS[2], DAYS[1]]),
        "x": [5.0, 0.0, 2.0, 1.0, 4.0, 3.0],
    }
)


def scaled(values: pd.DataFrame, factor: float) -> pd.DataFrame:
    """A day function without a day: the day's rows, scaled."""
    return values.assign(y=values["x"] * factor).reset_index(drop=True)


def judged(values: pd.DataFrame, as_of: date) -> tuple[pd.DataFrame, list[str]]:
    """A day function that reads its day and reports a finding on one day only."""
    frame = pd.DataFrame({"as_of": [as_of.isoformat()], "total": [values["x"].sum()]})
    frame.attrs[AUDIT_TRAIL_ATTR] = {"day": as_of.isoformat()}
    return frame, ([f"{as_of}: odd total"] if values["x"].sum() % 2 else [])


def materialise(body, compute=None):
    """Run ``body(context)`` as the body of a daily asset over DAYS in one run."""
    runs = []
    resources = {"compute": compute or ComputeResource()}

    @dg.asset(partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run())
    def probe(context: dg.AssetExecutionContext, compute: ComputeResource) -> None:
        runs.append(body(context, compute))

    with dg.instance_for_test() as instance:
        result = dg.materialize([probe], instance=instance, tags=RANGE, resources=resources)
    assert result.success
    return runs[0]


@pytest.mark.parametrize(
    "compute",
    [None, ComputeResource(workers=2, min_calls=2)],
    ids=["calling-process", "two-workers"],
)
def test_each_day_gets_its_own_rows_and_the_shared_arguments(compute):
    def body(context, workers):
        return run_days(
            context,
            scaled,
            workers if compute else None,
            sliced={"values": INPUT},
            shared={"factor": 10.0},
        )

    days = materialise(body, compute)
    assert days.days == [date(2026, 1, d) for d in (1, 2, 3)]
    expected = pd.DataFrame(
        {"x": [0.0, 1.0, 2.0, 3.0, 5.0, 4.0], "y": [0.0, 10.0, 20.0, 30.0, 50.0, 40.0]}
    )
    pd.testing.assert_frame_equal(days.table.drop(columns="date"), expected)
    stamped = days.table["date"].dt.strftime("%Y-%m-%d").tolist()
    assert stamped == [DAYS[0], DAYS[0], DAYS[1], DAYS[1], DAYS[2], DAYS[2]]
    pd.testing.assert_frame_equal(days.last, scaled(INPUT.iloc[[0, 4]].drop(columns="date"), 10))
    assert days.findings == {} and days.table.attrs == {} and days.empty_days() == []


def test_the_day_goes_in_as_of_and_findings_and_trails_are_kept_per_day():
    days = materialise(lambda context, _: run_days(context, judged, sliced={"values": INPUT}))
    assert days.table["as_of"].tolist() == DAYS
    assert days.table["total"].tolist() == [1.0, 5.0, 9.0]
    assert days.findings == {
        "2026-01-01": ["2026-01-01: odd total"],
        "2026-01-02": ["2026-01-02: odd total"],
        "2026-01-03": ["2026-01-03: odd total"],
    }
    assert days.table.attrs == {AUDIT_TRAIL_ATTR: {d: {"day": d} for d in DAYS}}


def test_a_day_without_rows_is_an_empty_day():
    sparse = INPUT.loc[INPUT["date"] != pd.Timestamp(DAYS[1])]

    def body(context, _):
        return run_days(context, scaled, sliced={"values": sparse}, shared={"factor": 1.0})

    days = materialise(body)
    assert days.empty_days() == ["2026-01-02"]
    assert days.table["date"].dt.strftime("%Y-%m-%d").unique().tolist() == [DAYS[0], DAYS[2]]


@pytest.mark.parametrize(
    ("failing", "passed"), [({}, True), ({"2026-01-02": ["gap"]}, False)], ids=["clean", "failing"]
)
def test_day_verdict_passes_only_without_failing_days(failing, passed):
    check = day_check("probe_check", "probe", "Nothing fails on any day.", blocking=True)
    result = day_verdict(check, failing, key="failing_days", days=3)
    assert result.check_name == "probe_check" and result.passed is passed
    assert result.description == "Nothing fails on any day."
    assert result.metadata["failing_days"].value == failing
    assert result.metadata["days"].value == 3
    assert check.blocking and check.partitions_def == DAILY


def test_a_range_run_records_each_partitions_own_metadata(tmp_path):
    def totals(frame: pd.DataFrame) -> dict:
        return {"total": dg.MetadataValue.float(float(frame["total"].sum()))}

    @dg.asset(partitions_def=DAILY, backfill_policy=dg.BackfillPolicy.single_run())
    def probe(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return run_days(context, judged, sliced={"values": INPUT}, metadata=totals).table

    lake = LakeIOManagerResource(root=str(tmp_path / "lake"))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [probe], instance=instance, tags=RANGE, resources={"io_manager": lake}
        )
        assert result.success
        seen = {}
        for day in DAYS:  # what the UI shows for each partition: its latest materialisation
            found = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("probe"), asset_partitions=[day]),
                limit=10,
            ).records
            assert len(found) == 1
            seen[day] = found[0].asset_materialization.metadata
    # Each day's rows of INPUT, summed by hand: 0 + 1, 2 + 3, 5 + 4.
    assert {day: meta["total"].value for day, meta in seen.items()} == dict(
        zip(DAYS, [1.0, 5.0, 9.0], strict=True)
    )
    for day, meta in seen.items():
        assert meta["path"].value.endswith(f"probe/date={day}/part.parquet")
        assert meta["dagster/row_count"].value == 1
        columns = meta["dagster/column_schema"].value.columns
        assert [(c.name, c.type) for c in columns] == [("as_of", "str"), ("total", "float64")]
        assert f"| {day} |" in meta["preview"].value  # the day's own row
        assert meta["partitions_written"].value == 3
