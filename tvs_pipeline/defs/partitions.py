"""The one daily partitions definition, the history windows it declares, and its days."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from tvs_pipeline.errors import SourceError, SourceUnavailable
from tvs_pipeline.funnel.source import NOTE_LOG, RETRY_LOG

__all__ = [
    "DAILY",
    "PARTITIONS_START",
    "SINGLE_RUN",
    "DaySlices",
    "bars_window",
    "daily_asset",
    "day_check",
    "day_rows",
    "partition_days",
    "retry_source_faults",
    "stamp",
    "stamp_days",
]

# The first as-of date the lake can hold; history before it is fetched as lookback, not
# materialised as partitions.
PARTITIONS_START = "2024-01-01"
DAILY = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START)
# A backfill is one run over its range; each asset walks the run's days (`days.run_days`).
SINGLE_RUN = dg.BackfillPolicy.single_run()
SOURCE_RETRIES, SOURCE_RETRY_SECONDS = 3, 60


def daily_asset(group: str, *kinds: str, **options: Any) -> dict[str, Any]:
    """The decorator arguments every asset shares: daily, single-run, pandas frames as Parquet.

    ``kinds`` are added to ``pandas`` and ``parquet``; ``options`` go to the decorator as given.
    """
    return {
        "partitions_def": DAILY,
        "group_name": group,
        "kinds": {"pandas", "parquet", *kinds},
        "backfill_policy": SINGLE_RUN,
        **options,
    }


def day_check(
    name: str, asset: str, description: str, *, blocking: bool = False
) -> dg.AssetCheckSpec:
    """A check on each partition day of ``asset`` (a blocking one stops the run's downstream)."""
    return dg.AssetCheckSpec(
        name, asset=asset, description=description, blocking=blocking, partitions_def=DAILY
    )


def bars_window(lookback_days: int, *, before: bool = False) -> dg.AssetDep:
    """The ``bars`` partitions a day's history window reads: D-(lookback-1)..D.

    With ``before``, the window stops at D-1: what `bars` itself reads of its own earlier
    partitions (a bar fetched before the window cannot fall inside it, so older partitions do
    not count). The length is the profile's ``run.lookback_days``.
    """
    return dg.AssetDep(
        "bars",
        partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=-(lookback_days - 1), end_offset=-1 if before else 0
        ),
    )


class _RetryLines(logging.Handler):
    """Each retry a source announces (``RETRY_LOG``), said in the run's log and on the terminal.

    ``tvs`` keeps Dagster's console quiet and prints step lines itself, so the line is printed too.
    """

    def __init__(self, context: dg.AssetExecutionContext | None) -> None:
        super().__init__(logging.WARNING)
        self.context = context

    def emit(self, record: logging.LogRecord) -> None:
        """Forward one retry line."""
        announce(self.context, record.getMessage())


def announce(context: dg.AssetExecutionContext | None, line: str) -> None:
    """Say ``line`` in the run's log (when in a run) and on the step's stderr.

    The run's log line starts with ``↻ `` (``runner.NOTICE``): ``tvs`` shows those lines on the
    terminal above its progress display (a step's stderr goes to the run's compute logs).
    """
    if context is not None:
        context.log.warning(f"↻ {line}")
    print(f"  ↻ {line}", file=sys.stderr, flush=True)


def _current_context() -> dg.AssetExecutionContext | None:
    try:
        return dg.AssetExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        return None


@contextmanager
def retry_source_faults() -> Iterator[None]:
    """Retry the step on a transient market-source fault (network, throttling), and only on that.

    The source client already retries single requests, each retry announced on ``RETRY_LOG``
    (shown here in the run's log and on the terminal, as are its notes on ``NOTE_LOG``); a step
    retry covers an outage of a few minutes and is announced the same way
    (``<step>: retry 1/3 in 60 s: <error>``). A source that
    cannot be reached by any retry (``SourceUnavailable``: a name that does not resolve, a refused
    connection, its deadline passed, or a step retry that would end past it) and a data or
    configuration error fail at once.
    """
    context = _current_context()
    lines = _RetryLines(context)
    RETRY_LOG.addHandler(lines)
    NOTE_LOG.addHandler(lines)
    try:
        yield
    except SourceUnavailable:
        raise
    except SourceError as err:
        attempt = (context.retry_number if context is not None else 0) + 1
        if attempt > SOURCE_RETRIES:
            raise
        text = " ".join(str(err).split())[:240]
        left = getattr(err, "deadline_left", None)  # the source's own deadline (FaultClock)
        if left is not None and left < SOURCE_RETRY_SECONDS:
            raise SourceUnavailable(
                f"{text}; a step retry in {SOURCE_RETRY_SECONDS} s would pass the source "
                "deadline (TVS_TV_DEADLINE)"
            ) from err
        step = context.op_def.name if context is not None else "source"
        announce(
            context, f"{step}: retry {attempt}/{SOURCE_RETRIES} in {SOURCE_RETRY_SECONDS} s: {text}"
        )
        raise dg.RetryRequested(
            max_retries=SOURCE_RETRIES, seconds_to_wait=SOURCE_RETRY_SECONDS
        ) from err
    finally:
        RETRY_LOG.removeHandler(lines)
        NOTE_LOG.removeHandler(lines)


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The days a run covers: one for a nightly run, many for a single-run backfill."""
    return [date.fromisoformat(key) for key in context.partition_keys]


def stamp(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    """Add the partition column the lake IO manager splits on."""
    return frame.assign(date=pd.Timestamp(day))


def stamp_days(frames: list[pd.DataFrame], days: list[date]) -> list[pd.DataFrame]:
    """``stamp`` each day's frame with its day (one frame per day, in order)."""
    return [stamp(frame, day) for frame, day in zip(frames, days, strict=True)]


def day_rows(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    """The rows of one partition day from a (possibly multi-day) input, without ``date``."""
    return frame.loc[frame["date"] == pd.Timestamp(day)].drop(columns=["date"])


class DaySlices:
    """A multi-day input cut by day once; ``slices[day]`` equals ``day_rows(frame, day)``.

    A single-run backfill hands an asset every day of its range in one frame. Masking the
    whole frame once per day is quadratic in the range (a 500-day normalization input is
    26 M rows, compared 500 times); one sort and a binary search per day is not.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        dates = frame["date"].to_numpy(dtype="datetime64[ns]")
        self._order = None
        if len(dates) and not (dates[1:] >= dates[:-1]).all():
            self._order = np.argsort(dates, kind="stable")
            dates = dates[self._order]
        self._dates = dates
        self._frame = frame.drop(columns=["date"])

    def __getitem__(self, day: date) -> pd.DataFrame:
        when = np.datetime64(pd.Timestamp(day).as_unit("ns"))
        lo = int(np.searchsorted(self._dates, when, side="left"))
        hi = int(np.searchsorted(self._dates, when, side="right"))
        # A stable sort keeps each day's rows in their input order, as day_rows does.
        rows = slice(lo, hi) if self._order is None else self._order[lo:hi]
        return self._frame.iloc[rows]
