"""The ledger's record kinds: every byte of every kind is covered by the chain; file digests."""

from __future__ import annotations

import hashlib
import math

import fsspec
import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.lake.ledger import (
    append_record,
    file_digest,
    frame_hash,
    json_safe,
    read_records,
    verify_ledger,
)

SHA = "ab" * 32
INTENT = {
    "run_id": "4340c2e8-9319-468a-bd07-56ed03fbb49d",
    "job": "nightly",
    "step": "selection",
    "asset": "selection",
    "partitions": ["2025-06-29", "2025-06-30", 2],
    "code_version": "htr_3_4",
    "profile": {"name": "demo", "sha256": SHA},
    "inputs": {
        "dedup": {
            "asset": "dedup",
            "partitions": ["2025-06-29", "2025-06-30", 2],
            "rows": 113,
            "files": {
                "2025-06-29": {"sha256": SHA, "rows": 57},
                "2025-06-30": {"sha256": None, "rows": 56},
            },
        }
    },
    "reads": {"bars": ["2024-02-16", "2025-06-30"]},
}
OUTPUT = {
    "run_id": "4340c2e8-9319-468a-bd07-56ed03fbb49d",
    "step": "selection_challenger",
    "asset": "selection_challenger",
    "partitions": ["2025-06-30", "2025-06-30", 1],
    "code_version": "v4",
    "rows": 56,
    "content_hash": SHA,
    "files": {"2025-06-30": {"sha256": SHA, "rows": 56}},
    "metadata_digest": SHA,
    "audit_trail": {
        "run_id": "v4",
        "digest": SHA,
        "entries": [{"stage": "policy", "seconds": 0.015, "note": "1 hard-vetoed ✓ é"}],
    },
}
OUTCOME = {"run_id": "x", "job": "shadow", "status": "FAILURE", "tags": {}, "failure": "boom"}


@pytest.fixture
def kinds_ledger(tmp_path):
    path = tmp_path / "audit.jsonl"
    for kind, payload in (("intent", INTENT), ("output", OUTPUT), ("run_outcome", OUTCOME)):
        append_record(path, kind, payload)
    return path


def test_records_of_every_kind_round_trip(kinds_ledger):
    records = read_records(kinds_ledger)
    assert [r["kind"] for r in records] == ["intent", "output", "run_outcome"]
    assert [r["payload"] for r in records] == [INTENT, OUTPUT, OUTCOME]
    assert verify_ledger(kinds_ledger).ok


@pytest.mark.parametrize("flip", [0x01, 0x20, 0x80], ids=["low-bit", "case-bit", "high-bit"])
def test_flipping_any_byte_names_exactly_that_record(kinds_ledger, tmp_path, flip):
    """Every position of every record (intent, output, run outcome) and every newline."""
    raw = kinds_ledger.read_bytes()
    tampered = tmp_path / "tampered.jsonl"
    for position in range(len(raw) - 1):  # the final newline excluded
        data = bytearray(raw)
        data[position] ^= flip
        tampered.write_bytes(bytes(data))
        verdict = verify_ledger(tampered)
        line = raw[:position].count(b"\n")
        assert not verdict.ok, position
        assert verdict.broken_at == line, (position, str(verdict))


def test_file_digest_is_the_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "part.parquet"
    path.write_bytes(b"PAR1" + bytes(range(256)) * 5000)
    assert file_digest(str(path)) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_digest(str(tmp_path / "missing.parquet")) is None


def test_file_digest_reads_fsspec_urls():
    with fsspec.open("memory://ledger-test/part.parquet", "wb") as handle:
        handle.write(b"remote bytes")
    expected = hashlib.sha256(b"remote bytes").hexdigest()
    assert file_digest("memory://ledger-test/part.parquet") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.int64(3), 3),
        (np.float64(0.5), 0.5),
        (np.bool_(True), True),
        (math.nan, "nan"),
        (-math.inf, "-inf"),
        ({"a": (1, np.float64(math.inf))}, {"a": [1, "inf"]}),
        (pd.Timestamp("2025-06-30"), "2025-06-30 00:00:00"),
        ({1: None}, {"1": None}),
    ],
    ids=["np-int", "np-float", "np-bool", "nan", "-inf", "nested", "timestamp", "int-key"],
)
def test_json_safe_makes_values_canonical(value, expected, tmp_path):
    assert json_safe(value) == expected
    append_record(tmp_path / "a.jsonl", "x", {"v": json_safe(value)})  # accepted


def test_frame_hash_is_pinned():
    """Pinned on pandas 3.1: the hash of a fixed frame must not drift between versions."""
    frame = pd.DataFrame(
        {
            "symbol": pd.array(["BINANCE:BTCUSDT", "NYSE:SPY"], dtype="str"),
            "ret": [0.01, -0.02],
            "market_date": pd.to_datetime(["2025-06-27", "2025-06-30"]),
            "alternates": [["A", "B"], []],
        }
    )
    assert frame_hash(frame) == PINNED_FRAME_HASH
    assert frame_hash(frame.iloc[::-1]) != PINNED_FRAME_HASH  # row order counts
    assert frame_hash(frame[["ret", "symbol", "market_date", "alternates"]]) != PINNED_FRAME_HASH
    swapped = frame.assign(ret=frame["ret"].iloc[::-1].to_numpy())
    assert frame_hash(swapped) != PINNED_FRAME_HASH  # a value moved to another row


PINNED_FRAME_HASH = "9f0344f9d6f02760e13254446d215e7c7c1c2d76952872ec43612e493825bed6"
