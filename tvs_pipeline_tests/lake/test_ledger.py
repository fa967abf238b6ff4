import hashlib
import itertools
import json
import subprocess
import sys
import threading

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.ledger import (
    GENESIS,
    append_record,
    canonical_json,
    frame_hash,
    read_records,
    verify_ledger,
)


@pytest.fixture
def ledger(tmp_path):
    path = tmp_path / "ledger" / "audit.jsonl"
    for i in range(5):
        append_record(path, "output", {"asset": "bars", "rows": i, "note": "é ✓"})
    return path


def test_chain_links_and_verifies(ledger):
    records = read_records(ledger)
    assert [r["seq"] for r in records] == [0, 1, 2, 3, 4]
    assert records[0]["prev"] == GENESIS
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(records))
    verdict = verify_ledger(ledger)
    assert verdict.ok and verdict.records == 5
    assert "ledger ok: 5 records" in str(verdict)


def test_stored_line_is_the_hashed_serialisation(ledger):
    for line in ledger.read_text(encoding="utf-8").splitlines():
        assert canonical_json(json.loads(line)) == line


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_flipping_any_byte_is_caught(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("l") / "audit.jsonl"
    for i in range(3):
        append_record(path, "output", {"rows": i})
    raw = bytearray(path.read_bytes())
    position = data.draw(st.integers(0, len(raw) - 2))  # the final newline excluded
    flip = data.draw(st.integers(1, 255))
    raw[position] ^= flip
    path.write_bytes(bytes(raw))
    line_of_byte = bytes(raw[:position]).count(b"\n")
    verdict = verify_ledger(path)
    assert not verdict.ok
    assert verdict.broken_at <= line_of_byte  # the tampered record, or one before a broken link
    assert f"broken at record {verdict.broken_at}" in str(verdict)


def test_deleting_a_record_is_caught(ledger):
    lines = ledger.read_text(encoding="utf-8").splitlines()
    ledger.write_text("\n".join(lines[:2] + lines[3:]) + "\n", encoding="utf-8")
    verdict = verify_ledger(ledger)
    assert not verdict.ok and verdict.broken_at == 2


def test_concurrent_writers_keep_one_chain(tmp_path):
    path = tmp_path / "audit.jsonl"

    def write(k):
        for i in range(10):
            append_record(path, "t", {"k": k, "i": i})

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert verify_ledger(path).records == 40


def test_non_json_values_are_refused(tmp_path):
    with pytest.raises(DataError, match="not canonical JSON"):
        append_record(tmp_path / "a.jsonl", "x", {"when": pd.Timestamp("2025-01-01")})


def test_frame_hash_sees_values_and_columns():
    a = pd.DataFrame({"x": [1.0, 2.0]})
    assert frame_hash(a) == frame_hash(a.copy())
    assert frame_hash(a) != frame_hash(pd.DataFrame({"x": [1.0, 2.5]}))
    assert frame_hash(a) != frame_hash(a.rename(columns={"x": "y"}))
    lists = pd.DataFrame({"alternates": [["A", "B"], []]})
    assert frame_hash(lists) != frame_hash(pd.DataFrame({"alternates": [["A"], []]}))


# ------------------------------------------------------------ crash artefacts (issue 18, 2)


def _tear(path, keep):
    """Cut the last line ``keep`` bytes in: what a kill or a full disk mid-append leaves."""
    raw = path.read_bytes()
    last = raw.rstrip(b"\n").rfind(b"\n") + 1
    torn = raw[last : last + keep]
    path.write_bytes(raw[:last] + torn)
    return torn


def test_a_torn_tail_is_moved_aside_and_the_next_append_goes_on(ledger):
    torn = _tear(ledger, 40)  # mid-JSON, no newline
    assert not verify_ledger(ledger).ok and verify_ledger(ledger).torn == 40
    assert "incomplete last line of 40 bytes" in str(verify_ledger(ledger))
    appended = append_record(ledger, "output", {"rows": 99})
    records = read_records(ledger)
    assert [r["kind"] for r in records] == ["output"] * 4 + ["repair", "output"]
    repair = records[4]["payload"]
    assert repair["bytes"] == 40 and repair["sha256"] == hashlib.sha256(torn).hexdigest()
    assert repair["after_record"] == 3 and appended["seq"] == 5
    assert (ledger.parent / repair["moved_to"]).read_bytes() == torn
    assert repair["moved_to"].startswith("audit.jsonl.torn-")
    verdict = verify_ledger(ledger)
    assert verdict.ok and verdict.records == 6
    assert f"repair at record 4: a torn tail of 40 bytes (sha256 {repair['sha256']})" in str(
        verdict
    )


def test_a_read_settles_a_torn_tail_too(ledger):
    _tear(ledger, 1)
    assert [r["kind"] for r in read_records(ledger)] == ["output"] * 4 + ["repair"]
    assert verify_ledger(ledger).ok


def test_a_whole_first_line_torn_leaves_a_repair_at_the_genesis(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"seq":0,"pr')
    record = append_record(path, "output", {"rows": 1})
    assert record["seq"] == 1 and read_records(path)[0]["payload"]["after_record"] is None
    assert verify_ledger(path).ok


def test_a_record_that_only_lost_its_newline_is_kept(ledger):
    ledger.write_bytes(ledger.read_bytes()[:-1])
    verdict = verify_ledger(ledger)
    assert verdict.ok and verdict.records == 5  # a whole, chained record
    assert append_record(ledger, "output", {"rows": 5})["seq"] == 5
    assert [r["kind"] for r in read_records(ledger)] == ["output"] * 6
    assert not list(ledger.parent.glob("*.torn-*"))


def test_corruption_in_the_middle_stays_an_error_naming_the_line(ledger):
    raw = bytearray(ledger.read_bytes())
    raw[raw.index(b"\n") + 5] ^= 0x01  # inside record 1
    ledger.write_bytes(bytes(raw))
    _tear(ledger, 30)
    append_record(ledger, "output", {"rows": 9})  # the tail is a crash artefact ...
    verdict = verify_ledger(ledger)
    assert not verdict.ok and verdict.broken_at == 1  # ... the middle is not
    assert "ledger broken at record 1 (line 2)" in str(verdict)


def test_a_complete_unreadable_last_line_is_not_a_torn_tail(ledger):
    ledger.write_bytes(ledger.read_bytes() + b"garbage\n")
    with pytest.raises(DataError, match="last ledger record is unreadable"):
        append_record(ledger, "output", {"rows": 9})


FULL_DISK = """
import resource, signal, sys
from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.ledger import append_record
path, limit = sys.argv[1], int(sys.argv[2])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
    append_record(path, "output", {"rows": 1, "pad": "x" * 200})
except DataError as err:
    print(err)
    sys.exit(3)
"""


def test_a_full_disk_mid_append_leaves_the_ledger_as_it_was(ledger):
    before = ledger.read_bytes()
    limit = len(before) + 50  # room for 50 bytes of a ~300-byte line
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(ledger), str(limit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    message = done.stdout.strip().splitlines()
    assert len(message) == 1 and "cannot append the output record" in message[0]
    assert "the ledger is unchanged" in message[0]
    assert ledger.read_bytes() == before
    assert append_record(ledger, "output", {"rows": 6})["seq"] == 5  # space came back
    assert verify_ledger(ledger).ok
