"""The lake's Dagster IO manager: hive-partitioned Parquet on any fsspec root, atomic writes."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from tvs_pipeline.config import resolved_to_yaml
from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.lake.custody import LakeCustody
from tvs_pipeline.lake.ledger import (
    AUDIT_TRAIL_ATTR,
    append_record,
    canonical_json,
    frame_hash,
    json_safe,
)
from tvs_pipeline.lake.storage import (
    PARTITION_COLUMN,
    as_day,
    is_local,
    read_partition,
    split_by_partition,
    staging_path,
    sync_folders,
)

__all__ = ["LakeIOManager", "LakeIOManagerResource", "deferred_interrupts", "frame_metadata"]

PREVIEW_ROWS, PREVIEW_COLUMNS = 5, 6
StepKey = tuple[str, str]  # (run id, step key)
# What the IO manager records on each partition's materialisation (the rest is the asset's).
PARTITION_METADATA = ("path", "dagster/row_count", "dagster/column_schema", "preview")
OUTPUT_METADATA = ("partitions_written",)


def frame_metadata(frame: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """Row count, column schema and a narrow preview of one partition, for the Dagster UI.

    The preview shows the first `PREVIEW_ROWS` rows of the first `PREVIEW_COLUMNS` columns,
    numbers to four significant digits; the column schema lists every column with its type.
    """
    body = frame.drop(columns=[PARTITION_COLUMN], errors="ignore")
    preview = body.iloc[:PREVIEW_ROWS, :PREVIEW_COLUMNS]
    hidden = body.shape[1] - preview.shape[1]
    text = preview.to_markdown(index=False, floatfmt=".4g") if len(preview) else "_empty_"
    if hidden and len(preview):
        text += f"\n\n_{hidden} more columns: see the column schema_"
    schema = dg.TableSchema(
        columns=[dg.TableColumn(str(name), str(dtype)) for name, dtype in body.dtypes.items()]
    )
    return {
        "dagster/row_count": dg.MetadataValue.int(len(body)),
        "dagster/column_schema": dg.MetadataValue.table_schema(schema),
        "preview": dg.MetadataValue.md(text),
    }


class LakeIOManager(dg.UPathIOManager):
    """Parquet per partition at ``<root>/<asset>/date=YYYY-MM-DD/part.parquet``.

    Differs from the stock ``UPathIOManager`` in two ways: an output spanning several
    partitions (a single-run backfill) is split by its ``date`` column and written per
    partition; and a window of partitions is read in one DuckDB call instead of one open per
    file. A write touches nothing but its partition files (and the ledger): readers build
    their DuckDB views in memory from the lake listing, so no reader can block a write.

    With a ledger path it also keeps the audit ledger (`tvs_pipeline.lake.ledger`): an
    ``intent`` record per step once its last input is loaded (Dagster loads every input
    before the body runs); per output, a ``write`` record with the sha256 of each file's
    bytes, then the files (each written beside its target and renamed), then the ``output``
    record. Records name each partition file by the sha256 of its bytes, so the digest a step
    read equals the digest its upstream step wrote. A step that loads nothing through this
    manager (``discovery``, ``promotion_report``) has its intent written just before its
    first write.

    And it checks custody (`tvs_pipeline.lake.custody`): every partition a step loads, and
    every partition present in a window a step declares and reads directly, must match its
    latest output record, or the step fails with one line naming the file and both digests.
    Writes of runs that are over and never got their output record are reconciled first.
    """

    extension: str = ".parquet"

    def __init__(
        self,
        base_path: UPath,
        ledger_path: Path | None = None,
    ) -> None:
        super().__init__(base_path=base_path)
        self._ledger_path = ledger_path
        self._custody = (
            LakeCustody(ledger_path, str(base_path)) if ledger_path is not None else None
        )
        self._inputs: dict[StepKey, dict[str, dict[str, Any]]] = {}
        self._intended: set[StepKey] = set()
        self._profiles: dict[str, dict[str, str]] = {}  # name -> identity, for this run

    def get_path_for_partition(
        self, context: dg.InputContext | dg.OutputContext, path: UPath, partition: str
    ) -> UPath:
        """Hive layout: ``<asset>/date=<key>/part`` (the extension is added by the base class)."""
        return path / f"{PARTITION_COLUMN}={partition}" / "part"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        """Write one partition atomically, without the partition column (no ledger record)."""
        staged = _stage(context, obj, str(path))
        try:
            _commit(staged)
            _sync([staged])
        finally:
            _discard(staged)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        """Read one partition file (a corrupt file is a DataError naming it)."""
        return read_partition(str(path))

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        """Write every partition the output spans between its write and output records.

        Each partition's materialisation gets its own path, row count, column schema and
        preview. From the write record to the output record a Ctrl-C waits: a partition file
        is either absent, its previous version, or complete with its records.
        """
        written: dict[str, _Staged] = {}
        # An audit trail rides in attrs for the ledger only. pandas deep-copies attrs into
        # every frame derived from this one (each partition slice, each hashed column), and a
        # range run's trail has one entry per day, so it is taken off once, here.
        trail = obj.attrs.get(AUDIT_TRAIL_ATTR)
        if obj.attrs:
            obj = obj.copy(deep=False)
            obj.attrs = {}
        if not context.has_asset_partitions:
            super().handle_output(context, obj)
            if self._ledger_path is not None:
                self._record_output(context, obj, written, trail)
            return
        paths = self._get_paths_for_partitions(context)
        keys = sorted(paths)
        parts = (
            split_by_partition(obj, keys)
            if len(keys) > 1 or PARTITION_COLUMN in obj.columns
            else {keys[0]: obj}
        )
        if self._ledger_path is not None:
            self._note_step(context)
        try:
            for key, frame in parts.items():
                written[key] = _stage(context, frame, str(paths[key]))
            context.add_output_metadata({"partitions_written": dg.MetadataValue.int(len(keys))})
            for key, frame in parts.items():
                path = dg.MetadataValue.path(str(paths[key]))
                _add_partition_metadata(context, key, {"path": path, **frame_metadata(frame)})
            with deferred_interrupts():
                if self._ledger_path is not None:
                    self._record_write(context, written)
                for staged in written.values():
                    _commit(staged)
                _sync(written.values())  # the renames durable before the output record
                if self._ledger_path is not None:
                    self._record_output(context, obj, written, trail)
        finally:
            for staged in written.values():
                _discard(staged)

    def _note_step(self, context: dg.OutputContext) -> None:
        """Write the step's intent if no loaded input did (``discovery``, ``promotion_report``).

        A step that yields several assets (``bars`` and ``fetch_failures``) has one intent.
        """
        if (context.run_id, context.step_key) not in self._intended:
            self._record_intent(context.step_context, {})

    def _record_write(self, context: dg.OutputContext, staged: dict[str, _Staged]) -> None:
        """Record what is about to be written, before any file is put in place.

        The unfinished writes of runs that are over are reconciled first; then the ``write``
        record: each file's sha256 and rows, the host and the pid.
        """
        self._custody.reconcile()
        keys = sorted(staged)
        payload = {
            "run_id": context.run_id,
            "step": context.step_key,
            "asset": context.asset_key.to_user_string(),
            "partitions": _span(keys),
            "files": {key: staged[key].entry() for key in keys},
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        append_record(self._ledger_path, "write", payload)

    def _record_output(
        self,
        context: dg.OutputContext,
        obj: pd.DataFrame,
        written: dict[str, _Staged],
        trail: object = None,
    ) -> None:
        """Append the output record once its files are in place; note their stamps."""
        self._note_step(context)  # an output that wrote no partition file
        keys = sorted(context.asset_partition_keys) if context.has_asset_partitions else []
        metadata = {
            k: _metadata_value(v) for k, v in _asset_metadata(context, keys[-1] if keys else None)
        }
        payload = {
            "run_id": context.run_id,
            "step": context.step_key,
            "asset": context.asset_key.to_user_string(),
            "partitions": _span(keys),
            "code_version": context.asset_spec.code_version,
            "rows": len(obj),
            "content_hash": frame_hash(obj),
            "files": {key: staged.entry() for key, staged in written.items()},
            "metadata_digest": _sha256(canonical_json(json_safe(metadata))),
        }
        if trail is not None:
            payload[AUDIT_TRAIL_ATTR] = json_safe(trail)
        append_record(self._ledger_path, "output", payload)
        if written:
            digests = {key: staged.digest for key, staged in written.items()}
            self._custody.note_written(payload["asset"], digests)

    def _note_input(
        self, context: dg.InputContext, frame: pd.DataFrame, digests: dict[str, str | None]
    ) -> None:
        """Keep the loaded input's file digests; write the intent once every input is in."""
        step_context = context.step_context
        step = (step_context.run_id, step_context.step.key)
        keys = sorted(context.asset_partition_keys) if context.has_asset_partitions else []
        rows = _rows_by_partition(frame, keys)
        inputs = self._inputs.setdefault(step, {})
        inputs[context.name] = {
            "asset": context.asset_key.to_user_string(),
            "partitions": _span(keys),
            "rows": len(frame),
            "files": {
                key: {"sha256": digests.get(key), "rows": int(rows.get(key, 0))} for key in keys
            },
        }
        loaded = {d.name for d in context.op_def.input_defs if not d.dagster_type.is_nothing}
        if loaded <= set(inputs):
            self._record_intent(step_context, self._inputs.pop(step))

    def _record_intent(self, step_context: Any, inputs: dict[str, dict[str, Any]]) -> None:
        """Append a step's intent: what it will compute, from which inputs, with what.

        Every partition file present in a window the step reads directly is checked against
        its latest output record first (`LakeCustody.check`). A step's own past (``bars``,
        the D−1 books) is checked before the run's first day only: a range run computes its
        own days in order and rewrites them, it never reads them from the lake.
        """
        assets_def = step_context.assets_def
        spec = next(iter(assets_def.specs), None) if assets_def is not None else None
        keys: list[str] = []
        if step_context.has_partitions and step_context.run_partitions_def is not None:
            keys = step_context.run_partitions_def.get_partition_keys_in_range(
                step_context.partition_key_range
            )
        own = {k.to_user_string() for k in assets_def.keys} if assets_def else set()
        reads = {}
        for name, key in (assets_def.keys_by_input_name if assets_def else {}).items():
            if name in inputs:
                continue
            window = None
            if step_context.has_asset_partitions_for_input(name):
                # A window may hold no partition: bars' own past on the first partition day.
                subset = step_context.asset_partitions_subset_for_input(name)
                window = [] if subset.is_empty else _first_last(subset.get_partition_keys())
                first, last = window or [None, None]
                if window and key.to_user_string() in own and keys:
                    last = min(last, _day_before(keys[0]))
                if window and first <= last:
                    self._custody.check(key.to_user_string(), window=(first, last))
            reads[key.to_user_string()] = window
        append_record(
            self._ledger_path,
            "intent",
            {
                "run_id": step_context.run_id,
                "job": step_context.job_name,
                "step": step_context.step.key,
                "asset": spec.key.to_user_string() if spec else None,
                "partitions": _span(keys),
                "code_version": spec.code_version if spec else None,
                "profile": self._profile_identity(step_context),
                "inputs": inputs,
                "reads": reads,
            },
        )
        self._intended.add((step_context.run_id, step_context.step.key))

    def _profile_identity(self, step_context: Any) -> dict[str, str] | None:
        """The profile a step reads: its name and the sha256 of ``tvs config show <name>``.

        None for a step without the ``profile`` resource (its output does not depend on it).
        """
        if "profile" not in getattr(step_context.op_def, "required_resource_keys", set()):
            return None
        resource = step_context.resources.profile
        if resource.name not in self._profiles:
            text = resolved_to_yaml(resource.resolved())
            self._profiles[resource.name] = {"name": resource.name, "sha256": _sha256(text)}
        return self._profiles[resource.name]

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        """Load one or many partitions as ONE frame with a ``date`` column (and note it).

        With a ledger, each partition's file is checked against its latest output record
        before it is read.
        """
        if self._custody is None or not context.has_asset_key:
            return self._load(context)
        keys = sorted(context.asset_partition_keys) if context.has_asset_partitions else []
        asset = context.asset_key.to_user_string()
        digests = self._custody.check(asset, keys) if keys else {}
        frame = self._load(context)
        self._note_input(context, frame, digests)
        return frame

    def _load(self, context: dg.InputContext) -> pd.DataFrame:
        if not context.has_asset_key or not context.has_asset_partitions:
            return super().load_input(context)
        keys = sorted(context.asset_partition_keys)
        asset = context.asset_key.path[-1]
        if len(keys) == 1:
            path = self._get_paths_for_partitions(context)[keys[0]]
            frame = read_partition(str(path))
            frame[PARTITION_COLUMN] = as_day(pd.Series([keys[0]] * len(frame), dtype="str"))
            return frame
        frame = LakeReader(str(self._base_path)).read(
            asset,
            where=f"{PARTITION_COLUMN} between ? and ?",
            params=[pd.Timestamp(keys[0]).date(), pd.Timestamp(keys[-1]).date()],
        )
        if frame is None:
            raise DataError(f"{asset}: no partition in {keys[0]}..{keys[-1]}")
        return frame


def _add_partition_metadata(
    context: dg.OutputContext, key: str, metadata: dict[str, dg.MetadataValue]
) -> None:
    """Record ``metadata`` on partition ``key``'s own materialisation.

    A context built by hand (a test's) has no step: there the last partition's metadata is
    the output's, as it would show for a one-day run.
    """
    try:
        step = context.step_context
    except dg.DagsterInvariantViolationError:
        if key == max(context.asset_partition_keys):
            context.add_output_metadata(metadata)
        return
    step.add_asset_metadata(metadata, asset_key=context.asset_key, partition_key=key)


def _asset_metadata(context: dg.OutputContext, key: str | None) -> list[tuple[str, object]]:
    """The metadata the asset itself gave partition ``key`` (the output's, then the day's).

    What the IO manager adds (`PARTITION_METADATA`, `OUTPUT_METADATA`) is left out: the ledger's
    ``metadata_digest`` vouches for what the asset computed.
    """
    merged = dict(context.output_metadata or {})
    try:
        step = context.step_context
    except dg.DagsterInvariantViolationError:
        step = None
    if step is not None and key is not None:
        merged |= step.get_asset_metadata(context.asset_key, partition_key=key) or {}
    ours = {*PARTITION_METADATA, *OUTPUT_METADATA}
    return [(k, v) for k, v in merged.items() if k not in ours]


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) until the block is done, then deliver it.

    Only the main thread receives signals; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and callable(previous):
            previous(signal.SIGINT, None)
        elif received and previous == signal.SIG_DFL:
            raise KeyboardInterrupt


def _span(keys: list[str]) -> list[object] | None:
    """``[first, last, count]`` of sorted partition keys (None when unpartitioned)."""
    return [keys[0], keys[-1], len(keys)] if keys else None


def _first_last(keys: Iterable[str]) -> list[str]:
    """``[first, last]`` of partition keys (daily keys sort as dates)."""
    ordered = sorted(keys)
    return [ordered[0], ordered[-1]]


def _day_before(key: str) -> str:
    """The daily partition key before ``key`` (``key`` itself if it is not a day)."""
    try:
        return (pd.Timestamp(key) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    except ValueError:
        return key


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class _Staged:
    """One partition serialised, hashed and waiting to be put in place.

    Locally the bytes sit in a temporary file beside the target (renamed into place by
    `_commit`); on object storage they are held until the one PUT, atomic there.
    """

    path: str
    digest: str
    rows: int
    tmp: str | None = None
    data: pa.Buffer | None = None

    def entry(self) -> dict[str, object]:
        """The file in a record: the sha256 of its bytes and its rows."""
        return {"sha256": self.digest, "rows": self.rows}


def _stage(context: dg.OutputContext, obj: pd.DataFrame, path: str) -> _Staged:
    """Serialise one partition (without the partition column and ``attrs``) and hash it.

    ``attrs`` are not stored (pyarrow would embed them): a file holds the frame's values only,
    and an audit trail goes to the ledger instead.

    Raises
    ------
    OSError
        The temporary file could not be written; the message names the partition file.
    """
    if not isinstance(obj, pd.DataFrame):
        raise DataError(f"{context.asset_key.to_user_string()}: expected a DataFrame output")
    # A split output comes without the column and attrs: no copy then (a drop costs ~2 ms).
    frame = obj.drop(columns=[PARTITION_COLUMN]) if PARTITION_COLUMN in obj.columns else obj
    if frame.attrs:
        frame = frame.copy(deep=False)
        frame.attrs = {}
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    data = sink.getvalue()
    staged = _Staged(path, hashlib.sha256(memoryview(data)).hexdigest(), len(frame))
    if not is_local(path):
        staged.data = data
        return staged
    local = _strip_file_scheme(path)
    tmp = staging_path(local)
    try:
        os.makedirs(os.path.dirname(local), exist_ok=True)
        staged.tmp = tmp
        with open(tmp, "wb") as handle:
            handle.write(memoryview(data))
            handle.flush()
            os.fsync(handle.fileno())  # on the disk before the write record names it
    except OSError as err:
        _discard(staged)
        raise _write_error(path, err) from err
    return staged


def _commit(staged: _Staged) -> None:
    """Put a staged partition in place: a rename locally, one PUT on object storage."""
    try:
        if staged.tmp is not None:
            os.replace(staged.tmp, _strip_file_scheme(staged.path))
            staged.tmp = None
            return
        fs, fs_path = fsspec.core.url_to_fs(staged.path)
        with fs.open(fs_path, "wb") as handle:
            handle.write(memoryview(staged.data))
    except OSError as err:
        raise _write_error(staged.path, err) from err


def _sync(staged: Iterable[_Staged]) -> None:
    """Flush the folders of the partitions renamed into place (`sync_folders`)."""
    paths = [s.path for s in staged]
    try:
        sync_folders(paths)
    except OSError as err:
        raise _write_error(paths[0], err) from err


def _discard(staged: _Staged) -> None:
    """Remove a staged temporary file that was not put in place."""
    if staged.tmp is not None:
        try:
            os.remove(staged.tmp)
        except FileNotFoundError:
            pass
        staged.tmp = None


def _write_error(path: str, err: OSError) -> OSError:
    cause = err.strerror or str(err).splitlines()[0] or type(err).__name__
    return OSError(err.errno, f"could not write partition {path}: {cause}")


def _strip_file_scheme(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _rows_by_partition(frame: pd.DataFrame, keys: list[str]) -> dict[str, int]:
    """Rows per partition key of a loaded frame (one key: all of them)."""
    if len(keys) <= 1:
        return {key: len(frame) for key in keys}
    counts = frame[PARTITION_COLUMN].value_counts()
    return {pd.Timestamp(day).strftime("%Y-%m-%d"): int(n) for day, n in counts.items()}


def _metadata_value(value: object) -> object:
    """A metadata entry's plain value (a ``MetadataValue`` unwrapped; a table as its rows)."""
    if isinstance(value, dg.TableMetadataValue):
        return [dict(record.data) for record in value.records]
    if isinstance(value, dg.TableSchemaMetadataValue):
        return [[column.name, column.type] for column in value.schema.columns]
    return value.value if isinstance(value, dg.MetadataValue) else value


class LakeIOManagerResource(dg.ConfigurableIOManagerFactory):
    """Configures the lake IO manager from a root path or URL and the ledger file."""

    root: str
    ledger_path: str | None = None

    def create_io_manager(self, context: dg.InitResourceContext) -> LakeIOManager:
        """Build the IO manager for a run."""
        ledger = Path(self.ledger_path) if self.ledger_path else None
        return LakeIOManager(base_path=UPath(self.root), ledger_path=ledger)
