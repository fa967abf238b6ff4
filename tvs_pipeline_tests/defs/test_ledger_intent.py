"""Intent and output records of real runs: order, chain of custody, parameters, audit trail."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import replace

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tvs_pipeline.cli import main
from tvs_pipeline.config import load_profile, resolved_to_yaml
from tvs_pipeline.definitions import build_definitions
from tvs_pipeline.defs.jobs import NIGHTLY_ASSETS, SHADOW_ASSETS
from tvs_pipeline.lake.io_manager import LakeIOManagerResource
from tvs_pipeline.lake.ledger import (
    AUDIT_TRAIL_ATTR,
    canonical_json,
    json_safe,
    read_records,
    verify_ledger,
)
from tvs_pipeline.selection.v4 import AUDIT_ATTR, STAGE_NAMES, AuditEntry
from tvs_pipeline.settings import load_settings

DAY, EVE = "2025-06-30", "2025-06-29"
# What the IO manager adds to a materialisation; the rest is what the asset body attached.
IO_MANAGER_METADATA = {"path", "partitions_written", "dagster/row_count", "columns", "preview"}
RANGE_TAGS = {
    "dagster/asset_partition_range_start": EVE,
    "dagster/asset_partition_range_end": DAY,
}


@pytest.fixture(scope="module")
def ledgered(tmp_path_factory):
    """The champion over two days as one run (windows load in one read, outputs split per
    day), then the challenger's shadow run of the last day reading the champion's files."""
    settings = load_settings({"TVS_HOME": str(tmp_path_factory.mktemp("home"))})
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        nightly = defs.resolve_job_def("nightly").execute_in_process(
            instance=instance, tags=RANGE_TAGS
        )
        shadow = defs.resolve_job_def("shadow").execute_in_process(
            instance=instance, partition_key=DAY
        )
    assert nightly.success and shadow.success
    path = settings.ledger_dir / "audit.jsonl"
    runs = {"nightly": nightly.run_id, "shadow": shadow.run_id}
    return settings, path, read_records(path), runs, {"nightly": nightly, "shadow": shadow}


def by_step(records, kind):
    return {(r["payload"]["run_id"], r["payload"]["step"]): r for r in records if r["kind"] == kind}


@pytest.mark.slow
def test_every_step_writes_one_intent_before_its_output(ledgered):
    _, _, records, runs, _ = ledgered
    kinds = defaultdict(list)
    for record in records:
        payload = record["payload"]
        kinds[(payload["run_id"], payload["step"])].append(record["kind"])
    # The bars step writes fetch_failures beside bars: one intent, then an output per asset.
    outputs = {"bars": 2, "fetch_failures": 0}
    expected = {(runs["nightly"], s) for s in NIGHTLY_ASSETS if outputs.get(s, 1)}
    expected |= {(runs["shadow"], s) for s in SHADOW_ASSETS}
    assert set(kinds) == expected
    for (_, step), sequence in kinds.items():
        assert sequence == ["intent"] + ["output"] * outputs.get(step, 1), (step, sequence)
    intents = by_step(records, "intent")
    assert intents[(runs["nightly"], "selection")]["payload"]["partitions"] == [EVE, DAY, 2]
    assert intents[(runs["shadow"], "selection_challenger")]["payload"]["partitions"] == [
        DAY,
        DAY,
        1,
    ]


@pytest.mark.slow
def test_each_input_file_is_the_file_its_upstream_step_wrote(ledgered):
    """Chain of custody: per partition, the sha256 and rows a step read equal those written."""
    _, _, records, runs, _ = ledgered
    written, compared = {}, defaultdict(int)
    for record in records:
        payload = record["payload"]
        if record["kind"] == "output":
            assert sum(f["rows"] for f in payload["files"].values()) == payload["rows"]
            for day, entry in payload["files"].items():
                written[(payload["asset"], day)] = entry
        elif record["kind"] == "intent":
            for name, loaded in payload["inputs"].items():
                first, last, _ = loaded["partitions"]
                days = pd.date_range(first, last).strftime("%Y-%m-%d").tolist()
                assert sorted(loaded["files"]) == days, name
                assert sum(f["rows"] for f in loaded["files"].values()) == loaded["rows"]
                for day, entry in loaded["files"].items():
                    assert len(entry["sha256"]) == 64
                    assert entry == written[(loaded["asset"], day)], (payload["step"], name, day)
                    compared[(payload["run_id"], len(loaded["files"]))] += 1
    # two-day windows inside the range run, single files across runs in the shadow run
    assert compared[(runs["nightly"], 2)] >= 10 and compared[(runs["shadow"], 1)] >= 8


@pytest.mark.slow
def test_intent_names_code_version_profile_and_windows_read_directly(ledgered, capsys):
    settings, _, records, runs, _ = ledgered
    intents = by_step(records, "intent")

    def intent(run, step):
        return intents[(runs[run], step)]["payload"]

    assert intent("nightly", "selection")["code_version"] == "htr_3_4"
    assert intent("shadow", "selection_challenger")["code_version"] == "v4"
    assert main(["config", "show", settings.profile]) == 0
    shown = hashlib.sha256(capsys.readouterr().out.encode("utf-8")).hexdigest()
    profile = load_profile(settings.profile)
    assert shown == hashlib.sha256(resolved_to_yaml(profile).encode("utf-8")).hexdigest()
    assert intent("nightly", "bars")["profile"] == {"name": profile.name, "sha256": shown}
    assert intent("nightly", "synthesis")["profile"] is None  # does not read the profile
    assert set(intent("nightly", "selection")["inputs"]) == {"dedup", "normalization"}
    assert intent("nightly", "discovery")["inputs"] == {}
    first = (pd.Timestamp(EVE) - pd.Timedelta(days=profile.run.lookback_days - 1)).date()
    assert intent("nightly", "data_health")["reads"] == {"bars": [first.isoformat(), DAY]}
    assert intent("nightly", "data_health")["job"] == "nightly"
    assert set(intent("shadow", "promotion_report")["reads"]) == {
        "selection_parity",
        "simulation",
        "simulation_challenger",
    }


@pytest.mark.slow
def test_the_v4_audit_trail_lands_in_the_output_record(ledgered):
    settings, _, records, runs, _ = ledgered
    assert AUDIT_TRAIL_ATTR == AUDIT_ATTR
    outputs = by_step(records, "output")
    trails = outputs[(runs["shadow"], "selection_challenger")]["payload"][AUDIT_TRAIL_ATTR]
    assert list(trails) == [DAY]  # one trail per day of the run
    trail = trails[DAY]
    assert [e["stage"] for e in trail["entries"]] == list(STAGE_NAMES)
    previous = trail["run_id"]
    for entry in trail["entries"]:
        assert AuditEntry.model_validate(entry, strict=False).chained_to(previous)
        previous = entry["digest"]
    assert trail["digest"] == previous
    assert AUDIT_TRAIL_ATTR not in outputs[(runs["nightly"], "selection")]["payload"]
    stored = pq.read_schema(
        f"{settings.lake_root}/selection_challenger/date={DAY}/part.parquet"
    ).pandas_metadata
    assert not stored.get("attributes")  # the file holds values only; the trail is here


@pytest.mark.slow
@pytest.mark.parametrize(
    ("run", "asset"),
    [("nightly", "selection"), ("nightly", "data_health"), ("shadow", "selection_challenger")],
)
def test_metadata_digest_is_that_of_the_materialised_metadata(ledgered, run, asset):
    _, _, records, runs, results = ledgered
    materialisation = results[run].asset_materializations_for_node(asset)[-1]
    body = {
        key: value.value
        for key, value in materialisation.metadata.items()
        if key not in IO_MANAGER_METADATA
    }
    assert body  # the asset attached metadata of its own
    digest = hashlib.sha256(canonical_json(json_safe(body)).encode("utf-8")).hexdigest()
    assert by_step(records, "output")[(runs[run], asset)]["payload"]["metadata_digest"] == digest


@pytest.mark.slow
def test_tvs_ledger_verify_passes_and_catches_a_flip_anywhere(ledgered, tmp_path, monkeypatch):
    settings, path, records, _, _ = ledgered
    monkeypatch.setenv("TVS_HOME", str(settings.home))
    assert main(["ledger", "verify"]) == 0
    assert verify_ledger(path).records == len(records)
    raw = path.read_bytes()
    starts = [0, *(i + 1 for i, b in enumerate(raw) if b == ord("\n"))][:-1]
    intent_line = next(
        i for i, r in enumerate(records) if r["kind"] == "intent" and r["payload"]["inputs"]
    )
    inside = range(starts[intent_line], starts[intent_line + 1])  # every byte of one intent
    spread = range(0, len(raw) - 1, max(1, len(raw) // 400))  # and across the whole file
    copy = tmp_path / "home" / "ledger" / "audit.jsonl"
    copy.parent.mkdir(parents=True)
    for position in sorted({*inside, *spread}):
        data = bytearray(raw)
        data[position] ^= 1 << (position % 8)
        copy.write_bytes(bytes(data))
        verdict = verify_ledger(copy)
        assert not verdict.ok and verdict.broken_at == raw[:position].count(b"\n"), position
    monkeypatch.setenv("TVS_HOME", str(tmp_path / "home"))
    assert main(["ledger", "verify"]) == 1


def test_a_step_that_fails_leaves_its_intent_and_no_output(tmp_path):
    """The intent is written before the body runs: a failing body leaves it, with its input."""
    daily = dg.DailyPartitionsDefinition(start_date="2025-06-01")

    @dg.asset(partitions_def=daily)
    def upstream() -> pd.DataFrame:
        return pd.DataFrame({"x": [1.0, 2.0]})

    @dg.asset(partitions_def=daily, code_version="v7")
    def downstream(upstream: pd.DataFrame) -> pd.DataFrame:
        raise RuntimeError("the body failed")

    ledger = tmp_path / "ledger" / "audit.jsonl"
    io_manager = LakeIOManagerResource(root=str(tmp_path / "lake"), ledger_path=str(ledger))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [upstream, downstream],
            partition_key=DAY,
            instance=instance,
            resources={"io_manager": io_manager},
            raise_on_error=False,
        )
    assert not result.success
    records = read_records(ledger)
    assert [(r["kind"], r["payload"]["step"]) for r in records] == [
        ("intent", "upstream"),
        ("output", "upstream"),
        ("intent", "downstream"),
    ]
    intent = records[2]["payload"]
    assert intent["code_version"] == "v7" and intent["profile"] is None
    assert intent["inputs"]["upstream"]["files"] == records[1]["payload"]["files"]
    assert intent["inputs"]["upstream"]["files"][DAY]["rows"] == 2
    assert verify_ledger(ledger).ok


@pytest.mark.slow
def test_a_range_run_records_the_v4_trail_of_every_day(ledgered):
    """Over two worker processes too: the days' decisions and trails come back intact."""
    settings, path, _, _, _ = ledgered
    stored = f"{settings.lake_root}/selection_challenger/date={DAY}/part.parquet"
    single_day = pd.read_parquet(stored)
    parallel = build_definitions(replace(settings, workers=2), min_parallel_calls=2)
    with dg.instance_for_test() as instance:
        shadow = parallel.resolve_job_def("shadow").execute_in_process(
            instance=instance, tags=RANGE_TAGS
        )
    assert shadow.success
    pd.testing.assert_frame_equal(pd.read_parquet(stored), single_day)
    (record,) = [
        r
        for r in read_records(path)
        if r["kind"] == "output"
        and r["payload"]["run_id"] == shadow.run_id
        and r["payload"]["step"] == "selection_challenger"
    ]
    trails = record["payload"][AUDIT_TRAIL_ATTR]
    assert sorted(trails) == [EVE, DAY]
    assert trails[EVE]["digest"] != trails[DAY]["digest"]
    assert all([e["stage"] for e in t["entries"]] == list(STAGE_NAMES) for t in trails.values())


def test_a_window_that_holds_no_partition_is_an_empty_read(tmp_path):
    """bars reads its own past; on the first partition day that window holds no partition."""
    daily = dg.DailyPartitionsDefinition(start_date=DAY)
    past = dg.TimeWindowPartitionMapping(start_offset=-2, end_offset=-1)

    @dg.asset(partitions_def=daily, deps=[dg.AssetDep("history", partition_mapping=past)])
    def history() -> pd.DataFrame:
        return pd.DataFrame({"x": [1.0]})

    ledger = tmp_path / "ledger" / "audit.jsonl"
    io_manager = LakeIOManagerResource(root=str(tmp_path / "lake"), ledger_path=str(ledger))
    with dg.instance_for_test() as instance:
        for day in (DAY, "2025-07-01", "2025-07-02", "2025-07-03"):
            result = dg.materialize(
                [history],
                partition_key=day,
                instance=instance,
                resources={"io_manager": io_manager},
            )
            assert result.success, day
    reads = [r["payload"]["reads"] for r in read_records(ledger) if r["kind"] == "intent"]
    assert reads == [
        {"history": []},
        {"history": [DAY, DAY]},
        {"history": [DAY, "2025-07-01"]},
        {"history": ["2025-07-01", "2025-07-02"]},
    ]
