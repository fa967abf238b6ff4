"""The lake's Dagster IO manager: hive-partitioned Parquet on any fsspec root, atomic writes."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
from upath import UPath

from tvs_pipeline.errors import DataError
from tvs_pipeline.lake.catalog import LakeReader, refresh_catalog
from tvs_pipeline.lake.ledger import append_record, frame_hash
from tvs_pipeline.lake.storage import (
    PARTITION_COLUMN,
    as_day,
    read_partition,
    split_by_partition,
    write_parquet_atomic,
)

__all__ = ["LakeIOManager", "LakeIOManagerResource", "frame_metadata"]

PREVIEW_ROWS = 10


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

    Differs from the stock ``UPathIOManager`` in three ways: an output spanning several
    partitions (a single-run backfill) is split by its ``date`` column and written per
    partition; a window of partitions is read in one DuckDB call instead of one open per file;
    and every write is followed by a refresh of the DuckDB catalog view for the asset.
    """

    extension: str = ".parquet"

    def __init__(
        self,
        base_path: UPath,
        catalog_path: Path | None = None,
        ledger_path: Path | None = None,
    ) -> None:
        super().__init__(base_path=base_path)
        self._catalog_path = catalog_path
        self._ledger_path = ledger_path

    def get_path_for_partition(
        self, context: dg.InputContext | dg.OutputContext, path: UPath, partition: str
    ) -> UPath:
        """Hive layout: ``<asset>/date=<key>/part`` (the extension is added by the base class)."""
        return path / f"{PARTITION_COLUMN}={partition}" / "part"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        """Write one partition atomically, without the partition column."""
        if not isinstance(obj, pd.DataFrame):
            raise DataError(f"{context.asset_key.to_user_string()}: expected a DataFrame output")
        write_parquet_atomic(obj.drop(columns=[PARTITION_COLUMN], errors="ignore"), str(path))

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        """Read one partition file (a corrupt file is a DataError naming it)."""
        return read_partition(str(path))

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        """Write every partition the output spans, then refresh the catalog view."""
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
            context.add_output_metadata(
                {
                    "path": dg.MetadataValue.path(str(paths[keys[-1]])),
                    "partitions_written": dg.MetadataValue.int(len(keys)),
                    **frame_metadata(obj),
                }
            )
        if self._catalog_path is not None:
            refresh_catalog(self._catalog_path, str(self._base_path), [context.asset_key.path[-1]])
        if self._ledger_path is not None:
            self._record(context, obj)

    def _record(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        """Append the output's content hash and row count to the audit ledger."""
        keys = sorted(context.asset_partition_keys) if context.has_asset_partitions else []
        append_record(
            self._ledger_path,
            "output",
            {
                "run_id": context.run_id,
                "step": context.step_key,
                "asset": context.asset_key.to_user_string(),
                "partitions": [keys[0], keys[-1], len(keys)] if keys else None,
                "rows": len(obj),
                "content_hash": frame_hash(obj),
            },
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        """Load one or many partitions as ONE frame with a ``date`` column."""
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


class LakeIOManagerResource(dg.ConfigurableIOManagerFactory):
    """Configures the lake IO manager from a root path or URL and the catalog file."""

    root: str
    catalog_path: str | None = None
    ledger_path: str | None = None

    def create_io_manager(self, context: dg.InitResourceContext) -> LakeIOManager:
        """Build the IO manager for a run."""
        catalog = Path(self.catalog_path) if self.catalog_path else None
        ledger = Path(self.ledger_path) if self.ledger_path else None
        return LakeIOManager(base_path=UPath(self.root), catalog_path=catalog, ledger_path=ledger)
