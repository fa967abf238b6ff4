"""The one per-day loop of the shell: a core day function over the days of a run."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.partitions import DaySlices, partition_days, stamp_days
from tvs_pipeline.defs.resources import ComputeResource
from tvs_pipeline.lake.ledger import AUDIT_TRAIL_ATTR
from tvs_pipeline.progress import count_day, start_days

__all__ = ["DayRun", "count_table", "day_verdict", "metric", "run_days"]


@dataclass(frozen=True)
class DayRun:
    """What the days of a run gave.

    Attributes
    ----------
    days : list of date
        The run's partition days, in order.
    table : DataFrame
        Every day's frame with its ``date`` column, concatenated in day order (RangeIndex);
        ``attrs`` hold the days' audit trails when the day function left any.
    last : DataFrame
        The last day's frame as the day function returned it (no ``date``): what a nightly
        run's metadata describes.
    findings : dict
        ISO day -> that day's finding, for the days whose finding is not empty (a day
        function that returns ``(frame, finding)``): what a check reports per day.
    metadata : dict
        The day's metadata when the run has one day (for the output, as a direct call of the
        asset shows it), else empty: a range's days each carry their own.
    """

    days: list[date]
    table: pd.DataFrame
    last: pd.DataFrame
    findings: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)

    def empty_days(self) -> list[str]:
        """The run's days (ISO) that gave no row."""
        present = set(pd.DatetimeIndex(self.table["date"].unique()).date)
        return [day.isoformat() for day in self.days if day not in present]


def run_days(
    context: dg.AssetExecutionContext,
    day_function: Callable[..., Any],
    compute: ComputeResource | None = None,
    *,
    sliced: Mapping[str, pd.DataFrame] | None = None,
    shared: Mapping[str, Any] | None = None,
    metadata: Callable[..., Mapping[str, Any]] | None = None,
    asset_key: str | None = None,
) -> DayRun:
    """Call ``day_function`` once per partition day of the run, by keyword, and stamp the days.

    A nightly run has one day, a single-run backfill many; the days are independent, so with
    ``compute`` they are spread over its worker processes (in day order otherwise, for a day
    function that carries state from one day to the next). A day function that reads history
    takes the day as ``as_of`` (it is passed when the signature has it); one that also judges
    the day returns ``(frame, finding)``.

    Parameters
    ----------
    context : AssetExecutionContext
        The asset's context; its partition keys are the days.
    day_function : callable
        A core function of one day, returning a frame or a ``(frame, finding)`` tuple.
        Module-level when ``compute`` may send it to a worker.
    compute : ComputeResource, optional
        The workers to spread the days over; the calling process alone when omitted.
    sliced : mapping, optional
        Keyword -> a multi-day input with a ``date`` column; each call gets that day's rows
        (without ``date``, cut once by `DaySlices`).
    shared : mapping, optional
        Keyword -> an argument every day gets the same (a profile block, a span of bars).
    metadata : callable, optional
        A day's frame (and ``as_of``, when its signature has it) -> that partition's
        metadata: recorded on each day's own
        materialisation (``add_asset_metadata(..., partition_key=day)``), so a range run's
        days do not all show the last day's numbers.
    asset_key : str, optional
        Which asset the metadata is for, in a step that materialises several.

    Returns
    -------
    DayRun
        The stamped table, the last day's frame and the non-empty findings.
    """
    days = partition_days(context)
    slices = {name: DaySlices(frame) for name, frame in (sliced or {}).items()}
    dated = "as_of" in inspect.signature(day_function).parameters
    calls = [
        {
            **{name: by_day[day] for name, by_day in slices.items()},
            **({"as_of": day} if dated else {}),
        }
        for day in days
    ]
    start_days(len(days))
    step = _step_name(context)
    if _in_process(compute, len(calls)):
        # Day by day here, so that a progress display can count them.
        results = []
        for day, call in zip(days, calls, strict=True):
            started = time.perf_counter()
            results.append(day_function(**(shared or {}), **call))
            count_day()
            # The step's stdout: the run page's step log in the UI.
            print(f"{step} {day}: done in {time.perf_counter() - started:.2f}s", flush=True)
    else:
        started = time.perf_counter()
        results = compute.map(day_function, calls, shared=shared)
        count_day(len(days))
        print(
            f"{step} {days[0]}..{days[-1]}: {len(days)} days over the workers in "
            f"{time.perf_counter() - started:.2f}s",
            flush=True,
        )
    judged = isinstance(results[0], tuple)
    frames, found = list(zip(*results, strict=True)) if judged else (results, [None] * len(days))
    stamped = stamp_days(list(frames), days)
    # An engine's audit trail (v4's) per day: concat keeps attrs only when all days agree.
    trails = {
        day.isoformat(): frame.attrs[AUDIT_TRAIL_ATTR]
        for day, frame in zip(days, stamped, strict=True)
        if AUDIT_TRAIL_ATTR in frame.attrs
    }
    table = pd.concat(stamped, ignore_index=True)
    table.attrs = {AUDIT_TRAIL_ATTR: trails} if trails else {}
    noted = {day.isoformat(): f for day, f in zip(days, found, strict=True) if f}
    described: dict[str, Any] = {}
    if metadata is not None:
        takes_day = "as_of" in inspect.signature(metadata).parameters
        for day, frame in zip(days, frames, strict=True):
            described = dict(metadata(frame, as_of=day) if takes_day else metadata(frame))
            if len(days) > 1:  # one day: the output's metadata is the partition's
                context.add_asset_metadata(
                    described, asset_key=asset_key, partition_key=day.isoformat()
                )
    single = described if len(days) == 1 else {}
    return DayRun(days=days, table=table, last=frames[-1], findings=noted, metadata=single)


def _step_name(context: dg.AssetExecutionContext) -> str:
    """The step's name for its log lines ("day" when the asset is called directly)."""
    try:
        return context.op_execution_context.op.name
    except dg.DagsterError:  # no op on a directly invoked asset's context
        return "day"


def _in_process(compute: ComputeResource | None, calls: int) -> bool:
    """Whether `ComputeResource.map` would run these calls in this process anyway."""
    if compute is None:
        return True
    if getattr(compute, "scheduler", ""):  # a Dask cluster takes the days
        return False
    return compute.run_workers <= 1 or calls < max(2, compute.min_calls)


def metric(value: float, digits: int = 2) -> dg.MetadataValue:
    """A float for the UI, rounded to ``digits`` decimals (a percent: 0.01 %; a ratio: 4).

    ``66.09829483325862`` reads as ``66.1``; ``3.79e-16`` (a rounding residue) as ``0``.
    """
    rounded = round(float(value), digits) + 0.0  # no "-0.0"
    return dg.MetadataValue.float(rounded)


def count_table(counts: Mapping[str, int] | pd.Series, key: str, value: str = "count"):
    """Counts as a Dagster table (two typed columns), not a JSON blob.

    Parameters
    ----------
    counts : mapping or Series
        Label -> count, in the order to show.
    key, value : str
        The columns' names.
    """
    items = list(counts.items())
    schema = dg.TableSchema(columns=[dg.TableColumn(key, "string"), dg.TableColumn(value, "int")])
    records = [dg.TableRecord({key: str(k), value: int(v)}) for k, v in items]
    return dg.MetadataValue.table(records=records, schema=schema)


def day_verdict(
    check: dg.AssetCheckSpec,
    failing: Mapping[str, Any] | list[Any],
    *,
    key: str,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    **metadata: Any,
) -> dg.AssetCheckResult:
    """The result of a check that passes when no day of the run is failing.

    Parameters
    ----------
    check : AssetCheckSpec
        The check (`partitions.day_check`); its description is the rule it enforces.
    failing : mapping or list
        What failed, per day (e.g. `DayRun.findings`): empty when the check passes.
    key : str
        The metadata entry that lists ``failing`` (JSON).
    severity : AssetCheckSeverity
        ERROR (a blocking check stops the downstream) or WARN.
    **metadata
        Further metadata entries.
    """
    return dg.AssetCheckResult(
        check_name=check.name,
        passed=not failing,
        severity=severity,
        metadata={**metadata, key: dg.MetadataValue.json(failing)},
        description=check.description,
    )
