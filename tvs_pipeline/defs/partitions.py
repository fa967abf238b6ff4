"""The one daily partitions definition, and how an asset body walks its partition days."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pandas as pd

__all__ = ["DAILY", "PARTITIONS_START", "day_rows", "partition_days", "stamp"]

# The first as-of date the lake can hold; history before it is fetched as lookback, not
# materialised as partitions.
PARTITIONS_START = "2024-01-01"
DAILY = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START)


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The days a run covers: one for a nightly run, many for a single-run backfill."""
    return [date.fromisoformat(key) for key in context.partition_keys]


def stamp(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    """Add the partition column the lake IO manager splits on."""
    return frame.assign(date=pd.Timestamp(day))


def day_rows(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    """The rows of one partition day from a (possibly multi-day) input, without ``date``."""
    return frame.loc[frame["date"] == pd.Timestamp(day)].drop(columns=["date"])
