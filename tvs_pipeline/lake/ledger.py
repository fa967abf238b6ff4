"""The hash-chained audit ledger: append under a lock, verify by re-walking the chain.

Every record is ``{seq, prev, at, kind, payload, hash}``; ``hash`` is the sha256 of the canonical
JSON of the other five fields and ``prev`` is the hash of the record before it. The kinds
written by the pipeline (docs/architecture.md lists their fields):

- ``intent``: a step, once its inputs are loaded and before its body runs: run, step, asset,
  partitions, code version, profile identity, and per input the sha256 and row count of every
  partition file it read; windows read directly through DuckDB are listed by range.
- ``write``: the partition files an output is about to write, with the sha256 of their bytes
  and the writer's host and pid; written before the files, so that a write interrupted before
  its ``output`` record can be settled afterwards (`tvs_pipeline.lake.custody`).
- ``output``: every output the IO manager writes, once its files are in place: rows, the
  frame's content hash, the sha256 and row count of every partition file written, the digest
  of the step's output metadata, and the audit trail the frame carries
  (``attrs["audit_trail"]``, e.g. the v4 selection's).
- ``reconcile``: a ``write`` never followed by its ``output``, settled file by file.
- ``run_outcome``: a finished run (SUCCESS or FAILURE), from the run-status sensors.
- ``repair``: a torn tail moved aside: where to, its length and its sha256.

A torn tail (an incomplete last line with no newline: a kill or a full disk mid-append) is a
crash artefact, settled under the lock by the next append or read (`repair_tail`): a complete
record that only lost its newline gets it back; anything else is moved to
``<ledger>.torn-<UTC stamp>`` and a ``repair`` record says so. A broken record followed by
others is never repaired: `verify_ledger` names its line.

The chain lives in a file (one machine, or a shared disk with working locks) or, when the
location is a ``postgresql://`` URL, in a database table that writers on many machines extend
one at a time (`tvs_pipeline.lake.ledger_db`); the records and their checks are the same.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
from filelock import FileLock

from tvs_pipeline.errors import DataError
from tvs_pipeline.lake import ledger_db

__all__ = [
    "AUDIT_TRAIL_ATTR",
    "GENESIS",
    "LedgerVerdict",
    "append_record",
    "append_run_outcome",
    "canonical_json",
    "check_line",
    "file_digest",
    "frame_hash",
    "json_safe",
    "ledger_exists",
    "read_records",
    "repair_tail",
    "verify_ledger",
]

GENESIS = "0" * 64
# A frame may carry its producer's audit trail (JSON-native) under this ``attrs`` key; the IO
# manager copies it into the output record. The v4 selection sets it (``selection.v4.AUDIT_ATTR``).
AUDIT_TRAIL_ATTR = "audit_trail"
FILE_BLOCK = 1 << 20
TAIL_BLOCK = 1 << 16
FIELDS = frozenset({"seq", "prev", "at", "kind", "payload", "hash"})
LOCK_TIMEOUT = 60


def canonical_json(record: dict[str, Any]) -> str:
    """The one serialisation used for both the stored line and its hash.

    Sorted keys, no whitespace, UTF-8 kept as is; values must be JSON-native (str, numbers,
    bools, None, lists, dicts) so that re-reading a line reproduces it byte for byte.
    """
    try:
        return json.dumps(
            record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as err:
        raise DataError(f"ledger record: not canonical JSON ({err})") from err


def json_safe(value: Any) -> Any:
    """``value`` made of JSON-native parts only, so that `canonical_json` accepts it.

    Mappings and sequences are walked; numpy scalars become Python numbers; a non-finite float
    becomes its text (``"nan"``, ``"inf"``); anything else becomes ``str(value)``.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def frame_hash(frame: pd.DataFrame) -> str:
    """Content hash of a frame: its columns, dtypes and every value, in row order.

    The sha256 of: the canonical JSON of the column names, then of the dtypes, then column by
    column the 8-byte ``pandas.util.hash_pandas_object`` value of every cell in row order
    (index excluded; a list-like cell is hashed as its JSON text). Column by column, because
    pandas' combining of column hashes into row hashes costs more than the hashing itself
    (a 26 M-row frame: 2.5 s combined, 1.4 s this way).
    """
    digest = hashlib.sha256()
    digest.update(canonical_json({"columns": [str(c) for c in frame.columns]}).encode())
    digest.update(canonical_json({"dtypes": [str(t) for t in frame.dtypes]}).encode())
    if len(frame):
        for position in range(frame.shape[1]):
            column = frame.iloc[:, position]
            if column.dtype == object:
                column = column.map(_flatten)
            digest.update(pd.util.hash_pandas_object(column, index=False).to_numpy())
    return digest.hexdigest()


def file_digest(path: str) -> str | None:
    """sha256 of a stored file's bytes (a local path or an fsspec URL); None if it is missing."""
    fs, fs_path = fsspec.core.url_to_fs(str(path))
    digest = hashlib.sha256()
    try:
        with fs.open(fs_path, "rb") as handle:
            while block := handle.read(FILE_BLOCK):
                digest.update(block)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def _flatten(value: Any) -> Any:
    """A list-like cell (e.g. ``alternates``) as JSON text, so it can be hashed."""
    if isinstance(value, list | tuple | np.ndarray):
        return json.dumps([str(v) for v in value])
    return value


def check_line(line: bytes, seq: int, prev: str) -> tuple[dict[str, Any] | None, str]:
    """Parse one stored line and check it as record ``seq`` chained to ``prev``.

    Returns
    -------
    (dict, "") or (None, reason)
        The record; or None and why it is broken: not valid JSON, unexpected fields, not in
        canonical form, the wrong sequence number, not chained to ``prev``, or a hash that
        does not match the content.
    """
    try:
        text = line.decode("utf-8")
        record = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"not valid JSON ({err.__class__.__name__})"
    if not isinstance(record, dict) or set(record) != FIELDS:
        return None, "unexpected fields"
    try:
        canonical = canonical_json(record)
    except DataError:
        return None, "line is not in canonical form"
    if canonical != text:
        return None, "line is not in canonical form"
    if record["seq"] != seq:
        return None, f"sequence {record['seq']!r}, expected {seq}"
    if record["prev"] != prev:
        return None, "does not chain to the previous record"
    if _digest({k: v for k, v in record.items() if k != "hash"}) != record["hash"]:
        return None, "hash does not match the content"
    return record, ""


def _read_tail(path: Path) -> tuple[bytes | None, int, bytes]:
    """The last complete line, where the bytes after it start, and those bytes.

    The line is None when the file holds no newline; the bytes after it are empty unless the
    file ends in a torn tail.
    """
    with path.open("rb") as handle:
        start = handle.seek(0, os.SEEK_END)
        data = b""
        while start > 0:
            cut = data.rfind(b"\n")
            if cut >= 0 and data.rfind(b"\n", 0, cut) >= 0:
                break
            begin = max(0, start - TAIL_BLOCK)
            handle.seek(begin)
            data = handle.read(start - begin) + data
            start = begin
    cut = data.rfind(b"\n")
    if cut < 0:
        return None, start, data
    first = data.rfind(b"\n", 0, cut) + 1
    return data[first:cut], start + cut + 1, data[cut + 1 :]


def _last_record(path: Path, line: bytes | None) -> dict[str, Any] | None:
    """The record a complete last line holds (None for an empty ledger)."""
    if line is None:
        return None
    try:
        record = json.loads(line.decode("utf-8"))
        record["seq"], record["hash"] = int(record["seq"]), str(record["hash"])
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(
            f"{path}: last ledger record is unreadable; run `tvs ledger verify`"
        ) from err
    return record


def _write_line(path: Path, record: dict[str, Any]) -> None:
    """Append one line and fsync it; if the disk refuses part of it, cut back to where it was.

    Raises
    ------
    DataError
        The line could not be written (a full disk, a read-only file): nothing was appended.
    """
    data = (canonical_json(record) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as err:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass  # left torn: the next append or read moves the tail aside
            raise DataError(
                f"{path}: cannot append the {record['kind']} record "
                f"({err.strerror or err}); the ledger is unchanged"
            ) from err
    finally:
        os.close(fd)


def _after(last: dict[str, Any] | None, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The record that follows ``last`` (None: the first record), hashed."""
    body = {
        "seq": 0 if last is None else int(last["seq"]) + 1,
        "prev": GENESIS if last is None else str(last["hash"]),
        "at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "kind": kind,
        "payload": payload,
    }
    return {**body, "hash": _digest(body)}


def _chain(
    path: Path, last: dict[str, Any] | None, kind: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """Build the record after ``last`` and append it (the caller holds the lock)."""
    record = _after(last, kind, payload)
    _write_line(path, record)
    return record


def _settle_tail(path: Path) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Settle a torn tail (the caller holds the lock): ``(last record, repair record or None)``.

    A tail that is a whole record chained to the last line, short of its newline, gets the
    newline. Any other tail is copied to ``<ledger>.torn-<stamp>`` (fsynced), cut off, and a
    ``repair`` record naming the copy, its length and its sha256 is appended.
    """
    if not path.exists() or path.stat().st_size == 0:
        return None, None
    line, start, torn = _read_tail(path)
    last = _last_record(path, line)
    if not torn:
        return last, None
    seq = 0 if last is None else int(last["seq"]) + 1
    record, _ = check_line(torn, seq, GENESIS if last is None else str(last["hash"]))
    if record is not None:
        with path.open("ab") as handle:
            handle.write(b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        return record, None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    aside = path.with_name(f"{path.name}.torn-{stamp}")
    try:
        with aside.open("xb") as handle:
            handle.write(torn)
            handle.flush()
            os.fsync(handle.fileno())
        with path.open("r+b") as handle:
            handle.truncate(start)
            os.fsync(handle.fileno())
    except OSError as err:
        raise DataError(
            f"{path}: cannot move a torn tail of {len(torn)} bytes aside to {aside.name} "
            f"({err.strerror or err}); the ledger is unchanged"
        ) from err
    payload = {
        "action": "torn_tail_moved_aside",
        "moved_to": aside.name,
        "bytes": len(torn),
        "sha256": hashlib.sha256(torn).hexdigest(),
        "after_record": None if last is None else int(last["seq"]),
    }
    repair = _chain(path, last, "repair", payload)
    return repair, repair


def repair_tail(path: Path) -> dict[str, Any] | None:
    """Settle a torn tail under the lock; return the ``repair`` record appended, if any.

    Raises
    ------
    DataError
        The last complete line is unreadable (corruption, not a crash artefact), or the torn
        bytes cannot be moved aside.
    """
    if ledger_db.is_database(path):
        return None  # a transaction commits whole: a database ledger has no torn tail
    path = Path(path)
    if not path.exists():
        return None
    with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT):
        return _settle_tail(path)[1]


def append_record(path: Path, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Append one record to the chain; returns the stored record (with seq, prev and hash).

    The file lock makes concurrent writers (parallel steps, the sensor) take turns; a torn
    tail left by a crash is moved aside first (`repair_tail`); the line is written and
    fsynced before the lock is released, and a write the disk refuses is cut back. A
    ``postgresql://`` location appends to the database's chain instead, serialised by its
    advisory lock (`tvs_pipeline.lake.ledger_db`), so writers on many hosts share one chain.

    Raises
    ------
    DataError
        The last complete record is unreadable, or the disk refused the line.
    """
    if ledger_db.is_database(path):
        canonical_json(payload)  # refused before the database is reached

        def build(head: str | None) -> str:
            return canonical_json(_after(None if head is None else json.loads(head), kind, payload))

        return json.loads(ledger_db.append_line(path, build))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT):
        last, _ = _settle_tail(path)
        return _chain(path, last, kind, payload)


def append_run_outcome(
    path: Path, run_id: str, job: str, tags: dict[str, str], failure: str | None = None
) -> dict[str, Any]:
    """Append a ``run_outcome`` record: SUCCESS, or FAILURE with the failure's first line."""
    payload: dict[str, Any] = {
        "run_id": run_id,
        "job": job,
        "status": "SUCCESS" if failure is None else "FAILURE",
        "tags": dict(tags),
    }
    if failure is not None:
        payload["failure"] = failure
    return append_record(path, "run_outcome", payload)


def ledger_exists(path: Path | str) -> bool:
    """Whether the ledger holds anything yet: the file exists, or the table has a record."""
    if ledger_db.is_database(path):
        return ledger_db.has_records(path)
    return Path(path).exists()


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of the ledger, in order (no verification; a torn tail is settled first)."""
    if ledger_db.is_database(path):
        return [json.loads(line) for _, line in ledger_db.read_lines(path)]
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        repair_tail(path)
        raw = path.read_bytes()
    return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line]


@dataclass(frozen=True)
class LedgerVerdict:
    """The outcome of re-walking the chain.

    ``torn`` is the length of a torn tail after the last complete record (not ok: the next
    append or `tvs ledger repair` moves it aside); ``repairs`` describes each ``repair``
    record of the chain.
    """

    ok: bool
    records: int
    broken_at: int | None = None
    reason: str = ""
    torn: int = 0
    repairs: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        if self.broken_at is not None:
            return (
                f"ledger broken at record {self.broken_at} (line {self.broken_at + 1}): "
                f"{self.reason}"
            )
        if self.torn:
            head = (
                f"ledger torn: {self.records} records, chain intact, then an incomplete last "
                f"line of {self.torn} bytes (a crash artefact: the next append or "
                "`tvs ledger repair` moves it aside)"
            )
        else:
            head = f"ledger ok: {self.records} records, chain intact"
        return "\n".join([head, *(f"  {repair}" for repair in self.repairs)])


def _describe_repair(record: dict[str, Any]) -> str:
    payload = record["payload"]
    if payload.get("action") == "torn_tail_moved_aside":
        return (
            f"repair at record {record['seq']}: a torn tail of {payload['bytes']} bytes "
            f"(sha256 {payload['sha256']}) moved aside to {payload['moved_to']}"
        )
    return f"repair at record {record['seq']}: {canonical_json(payload)}"


def verify_ledger(path: Path) -> LedgerVerdict:
    """Re-walk the chain and name the first broken record; report a torn tail; never write.

    A record is broken if its line is not valid JSON, is not in canonical form, has the wrong
    sequence number, does not point at the previous record's hash, or its hash does not match
    its content (`check_line`). A last line without its newline that is a whole, chained
    record counts as a record; any other such line is a torn tail. A ``postgresql://``
    location is read from its table, in sequence order, and checked the same way.
    """
    if ledger_db.is_database(path):
        lines, torn = [line.encode("utf-8") for _, line in ledger_db.read_lines(path)], b""
    else:
        path = Path(path)
        if not path.exists():
            return LedgerVerdict(True, 0)
        lines = path.read_bytes().split(b"\n")
        torn = lines.pop()  # what follows the last newline: empty unless the tail is torn
    prev, repairs = GENESIS, []
    for index, line in enumerate([*lines, torn] if torn else lines):
        record, reason = check_line(line, index, prev)
        if record is None:
            if index == len(lines):  # the line without a newline
                return LedgerVerdict(False, index, torn=len(torn), repairs=tuple(repairs))
            return LedgerVerdict(False, index, index, reason)
        if record["kind"] == "repair":
            repairs.append(_describe_repair(record))
        prev = record["hash"]
    count = len(lines) + (1 if torn else 0)
    return LedgerVerdict(True, count, repairs=tuple(repairs))
