"""The lake's chain of custody: every partition file against its latest output record.

The ledger names each partition file by the sha256 of its bytes. ``LakeCustody`` keeps an index
beside the ledger (``<ledger stem>.index.json``) so that checking a file costs a ``stat``:

- ``recorded``: per asset and partition key, the sha256 of the latest ``output`` (or verified
  ``reconcile``) record and that record's sequence number, folded from the ledger once, then
  incrementally from the byte offset it reached (re-folded whole if the ledger was replaced);
- ``pending``: ``write`` records not yet followed by their ``output`` record;
- ``seen``: per lake root and file, the sha256 last computed and the file's stamp (size,
  mtime_ns, ctime_ns, inode; size and ETag or modification time on object storage). A file
  whose stamp is unchanged is not hashed again; any change (a rewrite, an edit in place, a
  ``touch``, which moves ctime) makes it hashed.

The index is a cache: deleted or unreadable, it is rebuilt from the ledger, whose chain is
checked record by record as it is folded (a broken record is an error naming its line).
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
from filelock import FileLock

from tvs_pipeline.errors import DataError
from tvs_pipeline.lake import ledger_db
from tvs_pipeline.lake.ledger import GENESIS, append_record, check_line, file_digest
from tvs_pipeline.lake.storage import PARTITION_COLUMN, is_local, process_alive

__all__ = ["LakeCustody", "LakeVerdict", "Stamp", "index_path", "list_partitions"]

INDEX_VERSION = 1
LOCK_TIMEOUT = 120
PARTITION_FILE = re.compile(rf"^(?P<asset>.+)/{PARTITION_COLUMN}=(?P<key>[^/]+)/part\.parquet$")
Stamp = list[Any]


def index_path(ledger: Path) -> Path:
    """Where the index of a ledger lives: ``audit.jsonl`` -> ``audit.index.json`` beside it.

    A database ledger's index is this machine's cache (`ledger_db.index_location`).
    """
    if ledger_db.is_database(ledger):
        return ledger_db.index_location(ledger)
    ledger = Path(ledger)
    return ledger.with_name(f"{ledger.stem}.index.json")


def _empty() -> dict[str, Any]:
    return {
        "version": INDEX_VERSION,
        "ledger": {"offset": 0, "line_start": 0, "seq": -1, "hash": GENESIS},
        "recorded": {},
        "pending": {},
        "seen": {},
    }


@dataclass(frozen=True)
class LakeVerdict:
    """The lake checked against the ledger: files looked at, and one line per problem."""

    files: int
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """No mismatch, no file without a record, no record without its file."""
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return f"lake ok: {self.files} partition files match their latest output record"
        head = (
            f"lake: {len(self.problems)} problem(s) over {self.files} partition files "
            "(rerun a partition's day to rewrite it)"
        )
        return "\n".join([head, *(f"  {problem}" for problem in self.problems)])


class LakeCustody:
    """Partition files of one lake root checked against one ledger, through the index.

    Parameters
    ----------
    ledger : Path
        The audit ledger (``$TVS_HOME/ledger/audit.jsonl``); the index lives beside it.
    root : str
        The lake root: a local path or an fsspec URL.
    """

    def __init__(self, ledger: Path, root: str) -> None:
        self.ledger: Any = ledger if ledger_db.is_database(ledger) else Path(ledger)
        self.root = str(root).rstrip("/")
        self.path = index_path(self.ledger)
        self._index: dict[str, Any] = _empty()
        self._stamp: tuple[int, int, int] | None = None  # of the index file we hold
        self._saved_offset = 0
        self._dirty = False

    # ---------------------------------------------------------------- the public checks

    def check(
        self,
        asset: str,
        keys: Iterable[str] | None = None,
        window: tuple[str, str] | None = None,
    ) -> dict[str, str | None]:
        """The sha256 of each partition file, each checked against its latest output record.

        Either ``keys`` (partitions a step loads) or ``window`` (``[first, last]`` of a range
        it reads directly: every file present in it, and every partition recorded in it).
        Unfinished writes of runs that are over are reconciled first (`reconcile`).

        Returns
        -------
        dict
            Partition key -> sha256 of its file, None for a partition with neither a file
            nor a record.

        Raises
        ------
        DataError
            One line naming the first partition whose file differs from its latest output
            record (both digests), has no record, or is missing though recorded.
        """
        with self._locked() as index:
            self._reconcile(index, force=False)
            digests, problems = self._look(index, asset, keys, window, rehash=False)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise DataError(problems[0] + more)
        return digests

    def note_written(self, asset: str, digests: dict[str, str]) -> None:
        """Remember the stamps of files just written with these digests (not hashed again)."""
        with self._locked() as index:
            seen = index["seen"].setdefault(self.root, {}).setdefault(asset, {})
            stamps = self._stamps(asset, digests)
            for key, digest in digests.items():
                if stamps.get(key) is not None:
                    seen[key] = [digest, *stamps[key]]
            self._dirty = True

    def verify(self, *, rehash: bool = False) -> LakeVerdict:
        """Every partition file of the lake against the ledger, folded afresh from the ledger.

        Names each file whose sha256 differs from its latest output record (with both
        digests), each file with no record, and each recorded partition whose file is missing.
        With ``rehash`` every file is hashed; otherwise a file whose stamp is unchanged since
        it was last hashed keeps that digest.
        """
        with self._locked(rebuild=True) as index:
            listed = list_partitions(self.root)
            problems: list[str] = []
            assets = sorted(set(listed) | set(index["recorded"]))
            for asset in assets:
                keys = set(listed.get(asset, {})) | set(index["recorded"].get(asset, {}))
                _, found = self._look(index, asset, sorted(keys), None, rehash, listed)
                problems += found
            files = sum(len(v) for v in listed.values())
        return LakeVerdict(files, tuple(problems))

    def reconcile(self, *, force: bool = False) -> list[dict[str, Any]]:
        """Settle writes never followed by their output record; return the records appended.

        A write is settled once its run is over: a ``run_outcome`` names the run, or its
        process (on this host) is gone; with ``force``, any write but one whose process on
        this host is still alive (`tvs ledger repair`). Each file of it is ``verified`` (it
        holds the bytes the write announced: the partition is recorded as written),
        ``unchanged`` (it still holds its latest output record's bytes: the write never
        happened), ``missing``, or ``unverified`` (neither: the read check refuses it until
        its day is rerun).
        """
        with self._locked() as index:
            return self._reconcile(index, force=force)

    def rebuild(self) -> None:
        """Fold the index afresh from the ledger and forget every file's stamp."""
        with self._locked(rebuild=True) as index:
            index["seen"] = {}

    # ---------------------------------------------------------------- the index

    def _locked(self, rebuild: bool = False) -> _Locked:
        return _Locked(self, rebuild)

    def _load(self, rebuild: bool) -> dict[str, Any]:
        """The index, reloaded if another process saved it, then folded up to the ledger's end."""
        stamp = _file_stamp(self.path)
        if stamp != self._stamp:
            self._index = self._read_index()
            self._stamp = stamp
            self._saved_offset = self._index["ledger"]["offset"]
        if rebuild:
            seen = self._index["seen"]
            self._index = {**_empty(), "seen": seen}
        self._dirty = rebuild
        self._fold(self._index)
        return self._index

    def _read_index(self) -> dict[str, Any]:
        try:
            index = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return _empty()
        if not isinstance(index, dict) or index.get("version") != INDEX_VERSION:
            return _empty()
        return index

    def _save(self) -> None:
        """Write the index atomically (temporary file and rename) when it changed enough."""
        offset = self._index["ledger"]["offset"]
        # A fold alone is cheap to redo: saved when it moved on by 256 KB or more.
        if not self._dirty and offset - self._saved_offset < (1 << 18):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self._index, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a cache: a full disk only costs a re-fold later
            return
        self._stamp = _file_stamp(self.path)
        self._saved_offset = offset

    def _fold(self, index: dict[str, Any]) -> None:
        """Fold the complete ledger lines after the index's offset (each checked in chain)."""
        state = index["ledger"]
        if ledger_db.is_database(self.ledger):
            self._fold_database(index)
            return
        if not self.ledger.exists():
            if state["offset"]:
                index.update({k: v for k, v in _empty().items() if k != "seen"})
                self._dirty = True
            return
        with self.ledger.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if state["offset"] and not _anchored(handle, state, size):
                index.update({k: v for k, v in _empty().items() if k != "seen"})
                state = index["ledger"]
                self._dirty = True
            if size == state["offset"]:
                return
            handle.seek(state["offset"])
            data = handle.read(size - state["offset"])
        position = state["offset"]
        for line in data[: data.rfind(b"\n") + 1].split(b"\n")[:-1]:
            record, reason = check_line(line, state["seq"] + 1, state["hash"])
            if record is None:
                seq = state["seq"] + 1
                raise DataError(
                    f"{self.ledger}: ledger broken at record {seq} (line {seq + 1}): {reason}; "
                    "run `tvs ledger verify`"
                )
            _apply(index, record)
            state.update(line_start=position, seq=record["seq"], hash=record["hash"])
            position += len(line) + 1
        state["offset"] = position

    def _fold_database(self, index: dict[str, Any]) -> None:
        """`_fold` for a database ledger: the records after the index's sequence number.

        The record folded last is read again and must still carry its hash (a ledger
        replaced under the index makes it fold afresh). ``offset`` counts the bytes folded.
        """
        state = index["ledger"]
        rows = ledger_db.read_lines(self.ledger, after=state["seq"] - 1)
        if state["seq"] >= 0:
            anchor = rows.pop(0) if rows and rows[0][0] == state["seq"] else None
            if anchor is None or json.loads(anchor[1]).get("hash") != state["hash"]:
                index.update({k: v for k, v in _empty().items() if k != "seen"})
                state = index["ledger"]
                self._dirty = True
                rows = ledger_db.read_lines(self.ledger)
        for _, line in rows:
            record, reason = check_line(line.encode("utf-8"), state["seq"] + 1, state["hash"])
            if record is None:
                seq = state["seq"] + 1
                raise DataError(
                    f"{ledger_db.redact(self.ledger)}: ledger broken at record {seq}: {reason}; "
                    "run `tvs ledger verify`"
                )
            _apply(index, record)
            state.update(seq=record["seq"], hash=record["hash"])
            state["offset"] += len(line) + 1

    # ---------------------------------------------------------------- files

    def _file(self, asset: str, key: str) -> str:
        return f"{self.root}/{asset}/{PARTITION_COLUMN}={key}/part.parquet"

    def _look(
        self,
        index: dict[str, Any],
        asset: str,
        keys: Iterable[str] | None,
        window: tuple[str, str] | None,
        rehash: bool,
        listed: dict[str, dict[str, Stamp]] | None = None,
    ) -> tuple[dict[str, str | None], list[str]]:
        """Digest each partition (from the stamp cache or by hashing) and name the problems."""
        recorded = index["recorded"].get(asset, {})
        seen = index["seen"].setdefault(self.root, {}).setdefault(asset, {})
        if window is not None:
            first, last = window
            present = self._listing(asset, first, last)
            wanted = sorted({*present, *(k for k in recorded if first <= k <= last)})
        elif listed is not None:
            present, wanted = listed.get(asset, {}), sorted(keys or [])
        else:
            wanted = sorted(keys or [])
            present = self._stamps(asset, wanted)
        digests: dict[str, str | None] = {}
        problems: list[str] = []
        for key in wanted:
            stamp, entry = present.get(key), recorded.get(key)
            path = self._file(asset, key)
            if stamp is None:
                digests[key] = None
                if entry is not None and entry[0] is not None:
                    problems.append(
                        f"{path}: partition file missing; its latest output record "
                        f"(ledger record {entry[1]}) has sha256 {entry[0]}"
                    )
                continue
            cached = seen.get(key)
            if not rehash and cached is not None and cached[1:] == stamp and stamp[-1] is not None:
                digest = cached[0]
            else:
                digest = file_digest(path)
                if digest is not None:
                    seen[key] = [digest, *stamp]
                    self._dirty = True
            digests[key] = digest
            if entry is None:
                problems.append(
                    f"{path}: partition file has no output record in the ledger (sha256 "
                    f"{digest}){_pending_hint(index, asset, key, digest)}"
                )
            elif digest != entry[0]:
                problems.append(
                    f"{path}: partition file does not match its latest output record: "
                    f"expected sha256 {entry[0]} (ledger record {entry[1]}), found {digest}"
                    f"{_pending_hint(index, asset, key, digest)}"
                )
        return digests, problems

    def _stamps(self, asset: str, keys: Iterable[str]) -> dict[str, Stamp]:
        """The stamp of each partition file that exists (a stat per file)."""
        stamps = {}
        if is_local(self.root):
            for key in keys:
                stamp = _local_stamp(_strip(self._file(asset, key)))
                if stamp is not None:
                    stamps[key] = stamp
            return stamps
        fs, _ = fsspec.core.url_to_fs(self.root)
        for key in keys:
            try:
                stamps[key] = _remote_stamp(fs.info(self._file(asset, key)))
            except FileNotFoundError:
                continue
        return stamps

    def _listing(self, asset: str, first: str, last: str) -> dict[str, Stamp]:
        """The stamp of each partition file of ``asset`` with a key in ``[first, last]``."""
        prefix = f"{PARTITION_COLUMN}="
        if is_local(self.root):
            folder = _strip(f"{self.root}/{asset}")
            try:
                names = [e.name for e in os.scandir(folder) if e.name.startswith(prefix)]
            except (FileNotFoundError, NotADirectoryError):
                return {}
            keys = [n[len(prefix) :] for n in names if first <= n[len(prefix) :] <= last]
            return self._stamps(asset, keys)
        return {
            key: stamp
            for key, stamp in list_partitions(self.root, asset).get(asset, {}).items()
            if first <= key <= last
        }

    # ---------------------------------------------------------------- reconciliation

    def _reconcile(self, index: dict[str, Any], force: bool) -> list[dict[str, Any]]:
        appended = []
        for seq, write in sorted(index["pending"].items(), key=lambda item: int(item[0])):
            if not _settled(write, force):
                continue
            asset, files = write["asset"], write["files"]
            digests, _ = self._look(index, asset, sorted(files), None, rehash=True)
            recorded = index["recorded"].get(asset, {})
            outcome = {}
            for key, entry in files.items():
                found = digests.get(key)
                if found is not None and found == entry["sha256"]:
                    verdict = "verified"
                elif found is None:
                    verdict = "missing"
                elif key in recorded and found == recorded[key][0]:
                    verdict = "unchanged"
                else:
                    verdict = "unverified"
                outcome[key] = {"sha256": found, "rows": entry["rows"], "outcome": verdict}
            payload = {
                "write": int(seq),
                "run_id": write["run_id"],
                "step": write["step"],
                "asset": asset,
                "files": outcome,
            }
            appended.append(append_record(self.ledger, "reconcile", payload))
            self._fold(index)
        return appended


class _Locked:
    """``with custody._locked() as index``: the index under its lock, saved on the way out."""

    def __init__(self, custody: LakeCustody, rebuild: bool) -> None:
        self.custody, self.rebuild = custody, rebuild
        self.lock = FileLock(str(custody.path) + ".lock", timeout=LOCK_TIMEOUT)

    def __enter__(self) -> dict[str, Any]:
        self.custody.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        try:
            return self.custody._load(self.rebuild)
        except BaseException:
            self.lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.custody._save()
        finally:
            self.lock.release()


def _apply(index: dict[str, Any], record: dict[str, Any]) -> None:
    """Fold one ledger record into the index."""
    kind, payload, seq = record["kind"], record["payload"], record["seq"]
    if not isinstance(payload, dict):
        return
    if kind in ("output", "reconcile"):
        files = payload.get("files") or {}
        recorded = index["recorded"].setdefault(str(payload.get("asset")), {}) if files else {}
        for key, entry in files.items():
            if kind == "output" or entry.get("outcome") == "verified":
                recorded[key] = [entry.get("sha256"), seq]
        if kind == "reconcile":
            index["pending"].pop(str(payload.get("write")), None)
            return
        done = (payload.get("run_id"), payload.get("step"), payload.get("asset"))
        for pending_seq, write in list(index["pending"].items()):
            if (write["run_id"], write["step"], write["asset"]) == done:
                del index["pending"][pending_seq]
    elif kind == "write":
        index["pending"][str(seq)] = {
            "run_id": payload.get("run_id"),
            "step": payload.get("step"),
            "asset": payload.get("asset"),
            "files": payload.get("files") or {},
            "host": payload.get("host"),
            "pid": payload.get("pid"),
            "over": False,
        }
    elif kind == "run_outcome":
        for write in index["pending"].values():
            if write["run_id"] == payload.get("run_id"):
                write["over"] = True


def _settled(write: dict[str, Any], force: bool) -> bool:
    """Whether a pending write's run is over (or, with ``force``, not provably running)."""
    if write["over"]:
        return True
    here = write["host"] == socket.gethostname()
    alive = here and process_alive(write["pid"])
    return not alive if (force or here) else False


def _pending_hint(index: dict[str, Any], asset: str, key: str, digest: str | None) -> str:
    for seq, write in index["pending"].items():
        entry = write["files"].get(key) if write["asset"] == asset else None
        if entry is not None and entry["sha256"] == digest:
            return (
                f"; it holds the unfinished write of run {write['run_id']} (ledger record "
                f"{seq}): `tvs ledger repair` records it"
            )
    return ""


def _anchored(handle: Any, state: dict[str, Any], size: int) -> bool:
    """Whether the ledger still holds, where the index left it, the record it folded last."""
    if size < state["offset"]:
        return False
    handle.seek(state["line_start"])
    line = handle.read(state["offset"] - state["line_start"])
    try:
        return json.loads(line)["hash"] == state["hash"]
    except (ValueError, KeyError, TypeError):
        return False


def list_partitions(root: str, asset: str | None = None) -> dict[str, dict[str, Stamp]]:
    """Every partition file under ``root`` (or one asset's folder): asset -> key -> stamp.

    A stamp changes whenever the file does: size, mtime_ns, ctime_ns and inode locally; size
    and ETag (else modification time) on an object store.
    """
    base = f"{root}/{asset}" if asset else root
    found: dict[str, dict[str, Stamp]] = {}
    if is_local(root):
        top = _strip(root)
        for folder, _, names in os.walk(_strip(base)):
            if "part.parquet" not in names:
                continue
            relative = os.path.relpath(os.path.join(folder, "part.parquet"), top)
            match = PARTITION_FILE.match(relative.replace(os.sep, "/"))
            stamp = _local_stamp(os.path.join(folder, "part.parquet"))
            if match and stamp is not None:
                found.setdefault(match["asset"], {})[match["key"]] = stamp
        return found
    fs, path = fsspec.core.url_to_fs(base)
    _, root_path = fsspec.core.url_to_fs(root)
    try:
        listing = fs.find(path, detail=True)
    except FileNotFoundError:
        return found
    for name, info in listing.items():
        match = PARTITION_FILE.match(name[len(root_path.rstrip("/")) + 1 :])
        if match:
            found.setdefault(match["asset"], {})[match["key"]] = _remote_stamp(info)
    return found


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def _local_stamp(path: str) -> Stamp | None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _remote_stamp(info: dict[str, Any]) -> Stamp:
    """Size and a change token (ETag, else modification time); None: always hashed."""
    token = info.get("ETag") or info.get("LastModified") or info.get("mtime")
    return [info.get("size"), None if token is None else str(token)]


def _strip(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path
