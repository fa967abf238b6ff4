import itertools
import json
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
