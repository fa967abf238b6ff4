"""What a day-by-day asset carries into a run: its own last partition and the day's returns."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pandas as pd

from tvs_pipeline.lake.catalog import LakeReader

__all__ = ["day_before", "last_partition", "session_returns", "shift_days"]

RETURN_COLUMNS = ["date", "symbol", "ret"]


def day_before(asset: str) -> dg.AssetDep:
    """Partition D reads partition D−1 of ``asset`` (itself, for a ledger that compounds).

    Declared so the graph tells the truth and Dagster runs a backfill's days of a
    self-dependent asset in order; the asset reads it through the lake (`last_partition`),
    since the day before a run may not exist yet.
    """
    return dg.AssetDep(
        asset,
        partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
        ),
    )


def last_partition(
    reader: LakeReader, asset: str, first_day: date
) -> tuple[pd.DataFrame | None, date | None]:
    """The rows and day of ``asset``'s latest non-empty partition before ``first_day``.

    (None, None) when the lake holds none. The caller checks that the day is the one before
    ``first_day``: an older one is a hole in a carried record.
    """
    latest = reader.read(
        asset, columns="max(date) as d", where="date < ?", params=[pd.Timestamp(first_day).date()]
    )
    if latest is None or latest["d"].isna().all():
        return None, None
    day = pd.Timestamp(latest["d"].iloc[0]).date()
    rows = reader.read(asset, where="date = ?", params=[day])
    return rows.drop(columns=["date"]), day


def session_returns(reader: LakeReader, days: list[date]) -> pd.DataFrame:
    """Each OK listing's return of session D, for the days of a run: [date, symbol, ret].

    The ``normalization`` rows of partition D dated D (a listing with no session that day has
    no row).
    """
    frame = reader.read(
        "normalization",
        columns=", ".join(RETURN_COLUMNS),
        where="date between ? and ? and market_date = date",
        params=[days[0], days[-1]],
    )
    return frame if frame is not None else pd.DataFrame(columns=RETURN_COLUMNS)


def shift_days(frame: pd.DataFrame | None, days: int = 1) -> pd.DataFrame:
    """``frame`` with its partition ``date`` moved ``days`` later (D−1's rows sliced as D's)."""
    if frame is None:
        return pd.DataFrame(columns=["date", "kind"])
    return frame.assign(date=frame["date"] + timedelta(days=days))
