"""The lake against the ledger: the digest index, the read check, verify --lake, reconcile."""

from __future__ import annotations

import hashlib
import os
import socket

import pandas as pd
import pytest

from tvs_pipeline.errors import DataError
from tvs_pipeline.lake import custody as custody_module
from tvs_pipeline.lake.custody import LakeCustody, index_path
from tvs_pipeline.lake.ledger import append_record, append_run_outcome, read_records

DAYS = ["2025-06-28", "2025-06-29", "2025-06-30"]


@pytest.fixture
def lake(tmp_path):
    """Three recorded days of ``bars``, written as a run writes them: write, file, output."""
    root, ledger = tmp_path / "lake", tmp_path / "ledger" / "audit.jsonl"
    for value, day in enumerate(DAYS):
        put(root, ledger, "bars", day, value)
    return root, ledger


def part(root, asset, day):
    return root / asset / f"date={day}" / "part.parquet"


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def frame(value):
    return pd.DataFrame({"close": [100.0 + value, 101.0 + value], "symbol": ["A", "B"]})


def put(root, ledger, asset, day, value, *, output=True, run="r1", pid=None):
    """One partition written under the ledger's protocol (``output=False``: killed before
    its output record)."""
    path = part(root, asset, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("new.tmp")
    frame(value).to_parquet(tmp, index=False)
    entry = {day: {"sha256": sha(tmp), "rows": 2}}
    base = {"run_id": run, "step": asset, "asset": asset, "files": entry}
    host = {"host": socket.gethostname(), "pid": os.getpid() if pid is None else pid}
    append_record(ledger, "write", {**base, **host})
    os.replace(tmp, path)
    if output:
        append_record(ledger, "output", base)
    return entry[day]["sha256"]


def flip(path, offset=None):
    raw = bytearray(path.read_bytes())
    position = len(raw) // 2 if offset is None else offset
    raw[position] ^= 0x01
    path.write_bytes(bytes(raw))  # same size: only the stamp's mtime/ctime tell
    return raw


def dead_pid():
    """A pid no process holds (a child that has exited and been reaped)."""
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    return child


# ---------------------------------------------------------------- the read check


def test_recorded_files_pass_and_return_their_digests(lake):
    root, ledger = lake
    digests = LakeCustody(ledger, str(root)).check("bars", DAYS)
    assert digests == {day: sha(part(root, "bars", day)) for day in DAYS}


def test_a_flipped_byte_is_refused_naming_the_file_and_both_digests(lake):
    root, ledger = lake
    target = part(root, "bars", DAYS[1])
    expected = sha(target)
    custody = LakeCustody(ledger, str(root))
    custody.check("bars", DAYS)  # the stamps are cached ...
    flip(target)
    with pytest.raises(DataError) as caught:
        custody.check("bars", DAYS)  # ... and the changed file is hashed again
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{target}: ")
    assert f"expected sha256 {expected}" in message and f"found {sha(target)}" in message


def test_a_window_check_covers_files_present_and_partitions_recorded(lake):
    root, ledger = lake
    custody = LakeCustody(ledger, str(root))
    assert set(custody.check("bars", window=("2025-01-01", "2025-06-29"))) == set(DAYS[:2])
    part(root, "bars", DAYS[0]).unlink()
    with pytest.raises(DataError, match=rf"date={DAYS[0]}/part.parquet: partition file missing"):
        custody.check("bars", window=(DAYS[0], DAYS[1]))
    stray = part(root, "bars", "2025-07-01")
    stray.parent.mkdir(parents=True)
    frame(9).to_parquet(stray, index=False)
    with pytest.raises(DataError, match="partition file has no output record in the ledger"):
        custody.check("bars", window=("2025-07-01", "2025-07-31"))
    assert custody.check("bars", window=("2025-08-01", "2025-08-31")) == {}


def test_the_latest_output_record_wins(lake):
    root, ledger = lake
    custody = LakeCustody(ledger, str(root))
    assert custody.check("bars", [DAYS[2]])
    newer = put(root, ledger, "bars", DAYS[2], 7)  # a rerun rewrites the day
    assert custody.check("bars", [DAYS[2]]) == {DAYS[2]: newer}


def test_an_unchanged_file_is_hashed_once_and_a_touched_one_again(lake, monkeypatch):
    root, ledger = lake
    calls = []
    real = custody_module.file_digest
    monkeypatch.setattr(custody_module, "file_digest", lambda p: calls.append(p) or real(p))
    LakeCustody(ledger, str(root)).check("bars", DAYS)
    assert len(calls) == 3
    LakeCustody(ledger, str(root)).check("bars", DAYS)  # another process: the saved index
    assert len(calls) == 3
    target = part(root, "bars", DAYS[0])
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime, but ctime moves
    LakeCustody(ledger, str(root)).check("bars", DAYS)
    assert calls[3:] == [str(target)]


def test_the_index_is_a_cache_rebuilt_from_the_ledger(lake):
    root, ledger = lake
    custody = LakeCustody(ledger, str(root))
    custody.check("bars", DAYS)
    index_path(ledger).write_text("{not json", encoding="utf-8")
    assert LakeCustody(ledger, str(root)).check("bars", DAYS)
    index_path(ledger).unlink()
    assert LakeCustody(ledger, str(root)).check("bars", DAYS)


def test_a_ledger_replaced_under_the_index_is_folded_again(lake, tmp_path):
    root, ledger = lake
    LakeCustody(ledger, str(root)).check("bars", DAYS)
    records = ledger.read_bytes().split(b"\n")
    ledger.write_bytes(b"\n".join(records[:2]) + b"\n")  # e.g. an older ledger restored
    with pytest.raises(DataError, match="has no output record"):
        LakeCustody(ledger, str(root)).check("bars", [DAYS[1]])


def test_a_broken_chain_is_an_error_naming_its_line(lake):
    root, ledger = lake
    raw = bytearray(ledger.read_bytes())
    raw[raw.index(b"\n") + 20] ^= 0x01  # inside record 1
    ledger.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"ledger broken at record 1 \(line 2\)"):
        LakeCustody(ledger, str(root)).check("bars", DAYS)


# ---------------------------------------------------------------- verify --lake


def test_verify_names_every_mismatch_orphan_and_missing_file(lake):
    root, ledger = lake
    custody = LakeCustody(ledger, str(root))
    verdict = custody.verify()
    assert verdict.ok and verdict.files == 3
    assert str(verdict) == "lake ok: 3 partition files match their latest output record"
    flip(part(root, "bars", DAYS[0]))
    part(root, "bars", DAYS[1]).unlink()
    orphan = part(root, "health", DAYS[2])
    orphan.parent.mkdir(parents=True)
    frame(5).to_parquet(orphan, index=False)
    verdict = custody.verify()
    assert not verdict.ok and verdict.files == 3
    lines = str(verdict).splitlines()
    assert lines[0].startswith("lake: 3 problem(s) over 3 partition files")
    assert "bars/date=2025-06-28/part.parquet: partition file does not match" in lines[1]
    assert "bars/date=2025-06-29/part.parquet: partition file missing" in lines[2]
    assert "health/date=2025-06-30/part.parquet: partition file has no output record" in lines[3]


def test_verify_rehash_ignores_the_stamp_cache(lake):
    root, ledger = lake
    custody = LakeCustody(ledger, str(root))
    assert custody.verify().ok
    target = part(root, "bars", DAYS[2])
    st = target.stat()
    raw = flip(target)
    # Forge the cached stamp (an attacker with write access to the index, say).
    index = custody._index
    index["seen"][str(root)]["bars"][DAYS[2]][1:] = [
        len(raw),
        target.stat().st_mtime_ns,
        target.stat().st_ctime_ns,
        target.stat().st_ino,
    ]
    custody._save()
    assert st.st_size == len(raw)
    assert custody.verify().ok  # the forged cache is believed ...
    assert not custody.verify(rehash=True).ok  # ... and --rehash is not fooled


# ---------------------------------------------------------------- reconcile


def test_a_write_killed_before_its_output_record_is_verified_and_recorded(lake):
    root, ledger = lake
    digest = put(root, ledger, "bars", DAYS[2], 8, output=False, run="r2", pid=dead_pid())
    digests = LakeCustody(ledger, str(root)).check("bars", [DAYS[2]])
    assert digests == {DAYS[2]: digest}
    last = read_records(ledger)[-1]
    assert last["kind"] == "reconcile" and last["payload"]["run_id"] == "r2"
    assert last["payload"]["files"] == {
        DAYS[2]: {"sha256": digest, "rows": 2, "outcome": "verified"}
    }
    assert LakeCustody(ledger, str(root)).verify().ok


def test_a_write_that_never_reached_its_file_leaves_the_partition_unchanged(lake):
    root, ledger = lake
    before = sha(part(root, "bars", DAYS[1]))
    payload = {"run_id": "r2", "step": "bars", "asset": "bars", "host": socket.gethostname()}
    files = {DAYS[1]: {"sha256": "f" * 64, "rows": 2}}
    append_record(ledger, "write", {**payload, "files": files, "pid": dead_pid()})
    assert LakeCustody(ledger, str(root)).check("bars", [DAYS[1]]) == {DAYS[1]: before}
    assert read_records(ledger)[-1]["payload"]["files"][DAYS[1]]["outcome"] == "unchanged"


def test_a_changed_file_after_an_unfinished_write_is_unverified_and_refused(lake):
    root, ledger = lake
    put(root, ledger, "bars", DAYS[2], 8, output=False, run="r2", pid=dead_pid())
    frame(99).to_parquet(part(root, "bars", DAYS[2]), index=False)  # neither old nor new
    with pytest.raises(DataError, match="does not match its latest output record"):
        LakeCustody(ledger, str(root)).check("bars", [DAYS[2]])
    assert read_records(ledger)[-1]["payload"]["files"][DAYS[2]]["outcome"] == "unverified"


def test_a_write_of_a_live_process_waits_until_its_run_is_over(lake):
    root, ledger = lake
    digest = put(root, ledger, "bars", DAYS[2], 8, output=False, run="r2")  # this process
    custody = LakeCustody(ledger, str(root))
    with pytest.raises(DataError, match=r"holds the unfinished write of run r2 \(ledger record"):
        custody.check("bars", [DAYS[2]])
    assert read_records(ledger)[-1]["kind"] == "write"  # not reconciled while it may run
    append_run_outcome(ledger, "r2", "nightly", {}, failure="killed")
    assert custody.check("bars", [DAYS[2]]) == {DAYS[2]: digest}
    assert read_records(ledger)[-1]["kind"] == "reconcile"


def test_repair_reconciles_writes_of_other_hosts(lake):
    root, ledger = lake
    payload = {"run_id": "r9", "step": "bars", "asset": "bars", "host": "elsewhere", "pid": 1}
    files = {DAYS[0]: {"sha256": sha(part(root, "bars", DAYS[0])), "rows": 2}}
    append_record(ledger, "write", {**payload, "files": files})
    custody = LakeCustody(ledger, str(root))
    assert custody.reconcile() == []  # its run may still be going on elsewhere
    (record,) = custody.reconcile(force=True)
    assert record["payload"]["files"][DAYS[0]]["outcome"] == "verified"
