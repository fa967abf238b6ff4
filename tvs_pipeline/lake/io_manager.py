"""The lake's Dagster IO manager: hive-partitioned Parquet on any fsspec root, atomic writes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from upath import UPath

from tvs_pipeline.config import resolved_to_yaml
from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.lake.ledger import (
    AUDIT_TRAIL_ATTR,
    append_record,
    canonical_json,
    file_digest,
    frame_hash,
    json_safe,
)
from tvs_pipeline.lake.storage import (
    PARTITION_COLUMN,
    as_day,
    read_partition,
    split_by_partition,
    write_parquet_atomic,
)

__all__ = ["LakeIOManager", "LakeIOManagerResource", "frame_metadata"]

PREVIEW_ROWS = 10
StepKey = tuple[str, str]  # (run id, step key)


def frame_metadata(frame: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """Row count, columns and a preview table for the Dagster UI."""
    preview = frame.drop(columns=[PARTITION_COLUMN], errors="ignore").head(PREVIEW_ROWS)
    return {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "columns": dg.MetadataValue.text(", ".join(map(str, frame.columns))),
        "preview": dg.MetadataValue.md(
            preview.to_markdown(index=False) if len(preview) else "_empty_"
        ),
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
    before the body runs), and an ``output`` record per output written. Both name each
    partition file by the sha256 of its bytes, so the digest a step read equals the digest
    its upstream step wrote. A step that loads nothing through this manager (``discovery``,
    ``promotion_report``) has its intent written just before its output.
    """

    extension: str = ".parquet"

    def __init__(
        self,
        base_path: UPath,
        ledger_path: Path | None = None,
    ) -> None:
        super().__init__(base_path=base_path)
        self._ledger_path = ledger_path
        self._inputs: dict[StepKey, dict[str, dict[str, Any]]] = {}
        self._intended: set[StepKey] = set()
        self._profiles: dict[str, dict[str, str]] = {}  # name -> identity, for this run

    def get_path_for_partition(
        self, context: dg.InputContext | dg.OutputContext, path: UPath, partition: str
    ) -> UPath:
        """Hive layout: ``<asset>/date=<key>/part`` (the extension is added by the base class)."""
        return path / f"{PARTITION_COLUMN}={partition}" / "part"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        """Write one partition atomically, without the partition column.

        ``attrs`` are not stored (pyarrow would embed them): a file holds the frame's values
        only, and an audit trail goes to the ledger instead.
        """
        if not isinstance(obj, pd.DataFrame):
            raise DataError(f"{context.asset_key.to_user_string()}: expected a DataFrame output")
        frame = obj.drop(columns=[PARTITION_COLUMN], errors="ignore")
        frame.attrs = {}
        write_parquet_atomic(frame, str(path))

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        """Read one partition file (a corrupt file is a DataError naming it)."""
        return read_partition(str(path))

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        """Write every partition the output spans, then record the output in the ledger."""
        written: dict[str, tuple[UPath, int]] = {}
        # An audit trail rides in attrs for the ledger only. pandas deep-copies attrs into
        # every frame derived from this one (each partition slice, each hashed column), and a
        # range run's trail has one entry per day, so it is taken off once, here.
        trail = obj.attrs.get(AUDIT_TRAIL_ATTR)
        if obj.attrs:
            obj = obj.copy(deep=False)
            obj.attrs = {}
        if not context.has_asset_partitions:
            super().handle_output(context, obj)
        else:
            paths = self._get_paths_for_partitions(context)
            keys = sorted(paths)
            parts = (
                split_by_partition(obj, keys)
                if len(keys) > 1 or PARTITION_COLUMN in obj.columns
                else {keys[0]: obj}
            )
            for key, frame in parts.items():
                self.dump_to_path(context, frame, paths[key])
                written[key] = (paths[key], len(frame))
            context.add_output_metadata(
                {
                    "path": dg.MetadataValue.path(str(paths[keys[-1]])),
                    "partitions_written": dg.MetadataValue.int(len(keys)),
                    **frame_metadata(obj),
                }
            )
        if self._ledger_path is not None:
            self._record_output(context, obj, written, trail)

    def _record_output(
        self,
        context: dg.OutputContext,
        obj: pd.DataFrame,
        written: dict[str, tuple[UPath, int]],
        trail: object = None,
    ) -> None:
        """Append the output record, after the step's intent if no loaded input wrote it."""
        # A step that yields several assets (bars and fetch_failures) has one intent.
        if (context.run_id, context.step_key) not in self._intended:
            self._record_intent(context.step_context, {})
        keys = sorted(context.asset_partition_keys) if context.has_asset_partitions else []
        metadata = {k: _metadata_value(v) for k, v in (context.output_metadata or {}).items()}
        payload = {
            "run_id": context.run_id,
            "step": context.step_key,
            "asset": context.asset_key.to_user_string(),
            "partitions": _span(keys),
            "code_version": context.asset_spec.code_version,
            "rows": len(obj),
            "content_hash": frame_hash(obj),
            "files": {key: _file_entry(path, rows) for key, (path, rows) in written.items()},
            "metadata_digest": _sha256(canonical_json(json_safe(metadata))),
        }
        if trail is not None:
            payload[AUDIT_TRAIL_ATTR] = json_safe(trail)
        append_record(self._ledger_path, "output", payload)

    def _note_input(self, context: dg.InputContext, frame: pd.DataFrame) -> None:
        """Keep the loaded input's file digests; write the intent once every input is in."""
        step_context = context.step_context
        step = (step_context.run_id, step_context.step.key)
        keys = sorted(context.asset_partition_keys) if context.has_asset_partitions else []
        rows = _rows_by_partition(frame, keys)
        paths = self._get_paths_for_partitions(context) if keys else {}
        inputs = self._inputs.setdefault(step, {})
        inputs[context.name] = {
            "asset": context.asset_key.to_user_string(),
            "partitions": _span(keys),
            "rows": len(frame),
            "files": {key: _file_entry(paths[key], rows.get(key, 0)) for key in keys},
        }
        loaded = {d.name for d in context.op_def.input_defs if not d.dagster_type.is_nothing}
        if loaded <= set(inputs):
            self._record_intent(step_context, self._inputs.pop(step))

    def _record_intent(self, step_context: Any, inputs: dict[str, dict[str, Any]]) -> None:
        """Append a step's intent: what it will compute, from which inputs, with what."""
        assets_def = step_context.assets_def
        spec = next(iter(assets_def.specs), None) if assets_def is not None else None
        reads = {}
        for name, key in (assets_def.keys_by_input_name if assets_def else {}).items():
            if name in inputs:
                continue
            window = None
            if step_context.has_asset_partitions_for_input(name):
                # A window may hold no partition: bars' own past on the first partition day.
                subset = step_context.asset_partitions_subset_for_input(name)
                window = [] if subset.is_empty else _first_last(subset.get_partition_keys())
            reads[key.to_user_string()] = window
        keys: list[str] = []
        if step_context.has_partitions and step_context.run_partitions_def is not None:
            keys = step_context.run_partitions_def.get_partition_keys_in_range(
                step_context.partition_key_range
            )
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
        """Load one or many partitions as ONE frame with a ``date`` column (and note it)."""
        frame = self._load(context)
        if self._ledger_path is not None and context.has_asset_key:
            self._note_input(context, frame)
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


def _span(keys: list[str]) -> list[object] | None:
    """``[first, last, count]`` of sorted partition keys (None when unpartitioned)."""
    return [keys[0], keys[-1], len(keys)] if keys else None


def _first_last(keys: Iterable[str]) -> list[str]:
    """``[first, last]`` of partition keys (daily keys sort as dates)."""
    ordered = sorted(keys)
    return [ordered[0], ordered[-1]]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_entry(path: UPath, rows: int) -> dict[str, object]:
    """One partition file in a record: the sha256 of its bytes (None if missing), its rows."""
    return {"sha256": file_digest(str(path)), "rows": int(rows)}


def _rows_by_partition(frame: pd.DataFrame, keys: list[str]) -> dict[str, int]:
    """Rows per partition key of a loaded frame (one key: all of them)."""
    if len(keys) <= 1:
        return {key: len(frame) for key in keys}
    counts = frame[PARTITION_COLUMN].value_counts()
    return {pd.Timestamp(day).strftime("%Y-%m-%d"): int(n) for day, n in counts.items()}


def _metadata_value(value: object) -> object:
    """A metadata entry's plain value (a ``MetadataValue`` unwrapped)."""
    return value.value if isinstance(value, dg.MetadataValue) else value


class LakeIOManagerResource(dg.ConfigurableIOManagerFactory):
    """Configures the lake IO manager from a root path or URL and the ledger file."""

    root: str
    ledger_path: str | None = None

    def create_io_manager(self, context: dg.InitResourceContext) -> LakeIOManager:
        """Build the IO manager for a run."""
        ledger = Path(self.ledger_path) if self.ledger_path else None
        return LakeIOManager(base_path=UPath(self.root), ledger_path=ledger)
