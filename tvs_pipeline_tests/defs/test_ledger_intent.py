"""Ledger records of real runs: order, chain of custody, parameters, audit trail, and what a
run does after a crash (a torn ledger tail, a write killed before its output record) or with a
partition file that no longer matches its record."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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
from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.custody import LakeCustody
from tvs_pipeline.lake.io_manager import LakeIOManagerResource
from tvs_pipeline.lake.ledger import (
    AUDIT_TRAIL_ATTR,
    append_run_outcome,
    canonical_json,
    json_safe,
    read_records,
    verify_ledger,
)
from tvs_pipeline.selection.v4 import AUDIT_ATTR, STAGE_NAMES, AuditEntry
from tvs_pipeline.settings import load_settings

DAY, EVE = "2025-06-30", "2025-06-29"
# What the IO manager adds to a materialisation; the rest is what the asset body attached.
IO_MANAGER_METADATA = {
    "path",
    "partitions_written",
    "dagster/row_count",
    "dagster/column_schema",
    "preview",
}
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
        expected_sequence = ["intent"] + ["write", "output"] * outputs.get(step, 1)
        assert sequence == expected_sequence, (step, sequence)
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
    # A day that mixes logics keeps one trail per logic (each logic is decided on its own).
    by_logic = trails[DAY].get("by_logic", {"trend": trails[DAY]})
    assert "trend" in by_logic
    for trail in by_logic.values():
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
        key: [r.data for r in value.records] if hasattr(value, "records") else value.value
        for key, value in materialisation.metadata.items()
        if key not in IO_MANAGER_METADATA
    }  # a table's digest is that of its rows
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
        ("write", "upstream"),
        ("output", "upstream"),
        ("intent", "downstream"),
    ]
    intent = records[3]["payload"]
    assert intent["code_version"] == "v7" and intent["profile"] is None
    assert records[1]["payload"]["files"] == records[2]["payload"]["files"]
    assert intent["inputs"]["upstream"]["files"] == records[2]["payload"]["files"]
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

    # Each day its own trail (per logic on a day that mixes logics): no digest is shared.
    def logics(trail):
        return list(trail.get("by_logic", {"trend": trail}).values())

    assert {t["digest"] for t in logics(trails[EVE])}.isdisjoint(
        {t["digest"] for t in logics(trails[DAY])}
    )
    assert all(
        [e["stage"] for e in t["entries"]] == list(STAGE_NAMES)
        for day in trails.values()
        for t in logics(day)
    )


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


# ------------------------------------------------- crashes and a lake that lost its custody
# A two-asset graph: ``upstream`` loaded by ``downstream``, and read directly (a declared
# window, as the bars windows are) by ``window_reader``.

SMALL = dg.DailyPartitionsDefinition(start_date="2025-06-01")
WINDOW = dg.TimeWindowPartitionMapping(start_offset=-2)


@dg.asset(partitions_def=SMALL)
def upstream(context) -> pd.DataFrame:
    value = float(os.environ.get("UPSTREAM_VALUE", "1"))
    return pd.DataFrame({"x": [value + k / 8 for k in range(64)], "day": context.partition_key})


@dg.asset(partitions_def=SMALL)
def downstream(upstream: pd.DataFrame) -> pd.DataFrame:
    return upstream.assign(y=upstream["x"] * 2)


@dg.asset(partitions_def=SMALL, deps=[dg.AssetDep(upstream, partition_mapping=WINDOW)])
def window_reader(context) -> pd.DataFrame:
    root = os.environ["LAKE_ROOT"]
    days = pd.date_range(end=context.partition_key, periods=3).strftime("%Y-%m-%d")
    files = [f"{root}/upstream/date={d}/part.parquet" for d in days]
    return pd.concat([pd.read_parquet(f) for f in files if os.path.exists(f)])


def small_run(tmp_path, assets, day=DAY, selection=None):
    """Materialise the last of ``assets`` (the others are loaded), or ``selection``."""
    io_manager = LakeIOManagerResource(
        root=str(tmp_path / "lake"), ledger_path=str(tmp_path / "ledger" / "audit.jsonl")
    )
    with dg.instance_for_test() as instance:
        return dg.materialize(
            assets,
            partition_key=day,
            instance=instance,
            resources={"io_manager": io_manager},
            raise_on_error=False,
            selection=selection or [assets[-1].key],
        )


def failure_line(result):
    """The failed step's DataError message (Dagster prefixes it with the class path)."""
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    cause = error.cause or error
    assert cause.cls_name == "DataError"
    return cause.message.strip().removeprefix("tvs_pipeline.errors.DataError: ")


def latest_digests(records):
    """Per (asset, day), the sha256 of the latest record that vouches for the file."""
    latest = {}
    for record in records:
        for day, entry in record["payload"].get("files", {}).items():
            if record["kind"] == "output" or entry.get("outcome") == "verified":
                latest[(record["payload"]["asset"], day)] = entry["sha256"]
    return latest


def lake_digests(root):
    return {
        (p.parent.parent.name, p.parent.name[len("date=") :]): hashlib.sha256(
            p.read_bytes()
        ).hexdigest()
        for p in sorted(root.rglob("part.parquet"))
    }


KILLED_WRITER = """
import os, sys
import dagster as dg
import pandas as pd
from tvs_pipeline.lake import io_manager
from tvs_pipeline.lake.io_manager import LakeIOManagerResource
real = io_manager.append_record
def append(path, kind, payload):
    if kind == "output":
        os._exit(9)  # killed after the files are in place, before the output record
    return real(path, kind, payload)
io_manager.append_record = append
root, ledger, day, value = sys.argv[1:5]
@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2025-06-01"))
def upstream(context) -> pd.DataFrame:  # the test module's upstream, with another value
    return pd.DataFrame({"x": [float(value) + k / 8 for k in range(64)], "day": day})
resources = {"io_manager": LakeIOManagerResource(root=root, ledger_path=ledger)}
dg.materialize([upstream], partition_key=day, resources=resources)
"""


def killed_upstream_write(tmp_path, value):
    """``upstream`` of DAY written again with ``value`` by a process killed before its output
    record (a ``kill -9`` between the write and the record)."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_WRITER,
            str(tmp_path / "lake"),
            str(tmp_path / "ledger" / "audit.jsonl"),
            DAY,
            str(value),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 9, done.stderr[-2000:]


def test_a_write_killed_before_its_output_record_is_verified_before_the_next_read(tmp_path):
    """The partition the killed process wrote is re-verified against its write record and
    recorded, so the ledger vouches for every file the next run reads."""
    assert small_run(tmp_path, [upstream]).success
    killed_upstream_write(tmp_path, value=2)
    result = small_run(tmp_path, [upstream, downstream])
    assert result.success
    read = pd.read_parquet(tmp_path / "lake" / "downstream" / f"date={DAY}" / "part.parquet")
    assert read["x"].iloc[0] == 2.0  # the killed run's partition, now vouched for
    ledger = tmp_path / "ledger" / "audit.jsonl"
    records = read_records(ledger)
    assert lake_digests(tmp_path / "lake") == {
        key: digest for key, digest in latest_digests(records).items()
    }
    (reconcile,) = [r for r in records if r["kind"] == "reconcile"]
    assert reconcile["payload"]["files"][DAY]["outcome"] == "verified"
    assert verify_ledger(ledger).ok


def test_a_partition_changed_after_a_killed_write_is_refused(tmp_path):
    """Neither what the killed write announced nor what was recorded before: never kept."""
    assert small_run(tmp_path, [upstream]).success
    killed_upstream_write(tmp_path, value=2)
    target = tmp_path / "lake" / "upstream" / f"date={DAY}" / "part.parquet"
    pd.DataFrame({"x": [5.0], "day": DAY}).to_parquet(target, index=False)
    result = small_run(tmp_path, [upstream, downstream])
    assert not result.success
    line = failure_line(result)
    assert "\n" not in line and line.startswith(f"{target}: ")
    assert not (tmp_path / "lake" / "downstream").exists()


def silent_flip(path):
    """Flip the first byte whose change still reads back, as a changed value (the issue's
    31 of 40 flips); return the frame before."""
    raw = path.read_bytes()
    before = pd.read_parquet(path)
    for position in range(4, len(raw)):  # past the magic bytes: the data pages first
        data = bytearray(raw)
        data[position] ^= 0x04
        path.write_bytes(bytes(data))
        try:
            after = pd.read_parquet(path)
        except Exception:
            continue
        same_shape = after.shape == before.shape and after.dtypes.equals(before.dtypes)
        if same_shape and after.columns.equals(before.columns) and not after.equals(before):
            return before
    raise AssertionError("no silent flip found")


@pytest.mark.parametrize("reader", [downstream, window_reader], ids=["loaded", "window"])
def test_a_run_refuses_a_partition_that_does_not_match_its_record(tmp_path, monkeypatch, reader):
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path / "lake"))
    assert small_run(tmp_path, [upstream]).success
    target = tmp_path / "lake" / "upstream" / f"date={DAY}" / "part.parquet"
    recorded = hashlib.sha256(target.read_bytes()).hexdigest()
    silent_flip(target)
    found = hashlib.sha256(target.read_bytes()).hexdigest()
    result = small_run(tmp_path, [upstream, reader])
    assert not result.success
    line = failure_line(result)
    assert "\n" not in line and line.startswith(f"{target}: ")
    assert f"expected sha256 {recorded}" in line and f"found {found}" in line
    assert not list((tmp_path / "lake").glob(f"{reader.key.path[-1]}/*/*"))


def test_a_run_after_a_torn_ledger_tail_succeeds_and_records_the_repair(tmp_path):
    """The ledger cut mid-append by a full disk: the next run moves the tail aside."""
    assert small_run(tmp_path, [upstream]).success
    ledger = tmp_path / "ledger" / "audit.jsonl"
    raw = ledger.read_bytes()
    last = raw.rstrip(b"\n").rfind(b"\n") + 1
    ledger.write_bytes(raw[: last + 57])  # the output record cut mid-JSON
    assert not verify_ledger(ledger).ok
    both = [upstream.key, downstream.key]
    result = small_run(tmp_path, [upstream, downstream], day="2025-07-01", selection=both)
    assert result.success
    verdict = verify_ledger(ledger)
    assert verdict.ok and "repair at record 2: a torn tail of 57 bytes" in str(verdict)
    kinds = [r["kind"] for r in read_records(ledger)]
    assert kinds[:4] == ["intent", "write", "repair", "intent"]


def test_a_failed_run_outcome_settles_its_unfinished_write(tmp_path):
    """A step that died in this very process after its write: settled once its run is over."""
    assert small_run(tmp_path, [upstream]).success
    ledger = tmp_path / "ledger" / "audit.jsonl"
    records = read_records(ledger)
    write = next(r for r in records if r["kind"] == "write")
    output = records.index(next(r for r in records if r["kind"] == "output"))
    ledger.write_bytes(b"".join(ledger.read_bytes().splitlines(keepends=True)[:output]))
    with pytest.raises(DataError, match="no output record"):
        LakeCustody(ledger, str(tmp_path / "lake")).check("upstream", [DAY])
    append_run_outcome(ledger, write["payload"]["run_id"], "materialize", {}, failure="boom")
    assert small_run(tmp_path, [upstream, downstream]).success


PAST = dg.TimeWindowPartitionMapping(start_offset=-2, end_offset=-1)


@dg.asset(
    partitions_def=SMALL,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetDep("carried", partition_mapping=PAST)],
)
def carried(context) -> pd.DataFrame:
    """Reads its own past before the run's first day (as bars and the D−1 books do)."""
    days = pd.to_datetime(context.partition_keys)
    return pd.DataFrame({"x": [float(d.day) for d in days], "date": days})


def test_a_range_run_rewrites_its_own_bad_days_and_a_later_day_refuses_them(tmp_path):
    """The remedy for a damaged partition is to rerun its days: the run that rewrites them
    must not refuse them, while a run reading them from the lake must."""
    io_manager = LakeIOManagerResource(
        root=str(tmp_path / "lake"), ledger_path=str(tmp_path / "ledger" / "audit.jsonl")
    )

    def run(first, last):
        tags = {
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        }
        with dg.instance_for_test() as instance:
            return dg.materialize(
                [carried],
                instance=instance,
                tags=tags,
                resources={"io_manager": io_manager},
                raise_on_error=False,
            )

    assert run("2025-06-27", "2025-06-29").success
    damaged = tmp_path / "lake" / "carried" / "date=2025-06-28" / "part.parquet"
    silent_flip(damaged)
    later = run("2025-06-30", "2025-06-30")  # reads 06-28 and 06-29 from the lake
    assert not later.success and failure_line(later).startswith(f"{damaged}: ")
    assert run("2025-06-28", "2025-06-30").success  # reads 06-26 and 06-27 only
    assert pd.read_parquet(damaged)["x"].tolist() == [28.0]
    assert LakeCustody(tmp_path / "ledger" / "audit.jsonl", str(tmp_path / "lake")).verify().ok


@pytest.mark.slow
def test_each_day_of_a_range_run_shows_its_own_metadata(ledgered):
    settings, _, _, _, results = ledgered
    lake = settings.lake_root

    def by_day(asset):
        found = results["nightly"].asset_materializations_for_node(asset)
        return {m.partition: m.metadata for m in found}

    track = by_day("simulation")
    assert set(track) == {EVE, DAY}
    for day, meta in track.items():
        stored = pd.read_parquet(f"{lake}/simulation/date={day}/part.parquet")
        assert meta["path"].value.endswith(f"simulation/date={day}/part.parquet")
        assert meta["dagster/row_count"].value == len(stored)
        assert meta["net_return_pct"].value == pytest.approx(100 * stored["net"].iloc[0], abs=5e-5)
        assert meta["cost_bps"].value == pytest.approx(1e4 * stored["cost"].iloc[0], abs=5e-3)
        assert meta["equity"].value == pytest.approx(stored["equity"].iloc[0], abs=5e-7)
    books = by_day("allocation")
    assert set(books) == {EVE, DAY}
    for day, meta in books.items():
        stored = pd.read_parquet(f"{lake}/allocation/date={day}/part.parquet")
        physical = stored.loc[stored["kind"] == "physical"]
        assert meta["dagster/row_count"].value == len(stored)
        assert meta["listings_held"].value == int((physical["net_weight"].abs() > 0).sum())
        gross = 100 * stored["gross_exposure"].iloc[0]
        assert meta["gross_exposure_pct"].value == pytest.approx(gross, abs=5e-3)  # 0.01 %


def test_a_partition_is_on_the_disk_before_its_records_name_it(tmp_path, monkeypatch):
    """Power loss at any point leaves records that are true: the staged file is flushed
    before the write record names its digest, and the rename (the file's folder and the new
    `date=D` entry in the asset's folder) before the output record says it is in place. The
    real calls are watched, in order: every fsync by the path it flushed, every rename."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst, *args, **kwargs):
        events.append(("replace", os.fspath(dst)))
        return real_replace(src, dst, *args, **kwargs)

    @dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2025-01-01"))
    def upstream() -> pd.DataFrame:
        return pd.DataFrame({"x": [1.0, 2.0]})

    lake, ledger = tmp_path / "lake", tmp_path / "ledger" / "audit.jsonl"
    io_manager = LakeIOManagerResource(root=str(lake), ledger_path=str(ledger))
    with dg.instance_for_test() as instance:
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        assert dg.materialize(
            [upstream], partition_key=DAY, instance=instance, resources={"io_manager": io_manager}
        ).success
        monkeypatch.undo()
    part = lake / "upstream" / f"date={DAY}" / "part.parquet"
    kinds = [r["kind"] for r in read_records(ledger)]
    assert kinds == ["intent", "write", "output"]
    records = [i for i, e in enumerate(events) if e == ("fsync", str(ledger))]
    assert len(records) == 3  # one flush per record
    renamed = events.index(("replace", str(part)))
    staged = [i for i, (kind, path) in enumerate(events) if kind == "fsync" and ".part-" in path]
    assert len(staged) == 1 and staged[0] < records[1] < renamed < records[2]
    folders = {path for kind, path in events[renamed : records[2]] if kind == "fsync"}
    assert folders == {str(part.parent), str(part.parent.parent)}
    assert pq.read_table(part).num_rows == 2
