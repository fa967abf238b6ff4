"""Champion against challenger: the daily parity and the promotion report."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.partitions import DAILY, DaySlices, day_rows, partition_days, stamp
from tvs_pipeline.defs.resources import LakeResource, ProfileResource
from tvs_pipeline.selection.parity import compare_decisions, parity_verdict
from tvs_pipeline.simulation.promotion import (
    last_day_returns,
    promotion_summary,
    sessions_per_year,
)

__all__ = ["PROMOTION_WINDOW", "day_parity", "promotion_report", "selection_parity"]

PROMOTION_WINDOW = 20  # days of evidence for a cutover


def _window(frame: pd.DataFrame | None, start: pd.Timestamp, day) -> pd.DataFrame | None:
    """Rows of the partitions dated in ``[start, day]``."""
    if frame is None or frame.empty:
        return frame
    return frame.loc[frame["date"].between(start, pd.Timestamp(day))]


def _physical(weights: pd.DataFrame) -> pd.DataFrame:
    return weights.loc[weights["kind"] == "physical", ["symbol", "net_weight"]]


def day_parity(
    champion: pd.DataFrame,
    challenger: pd.DataFrame,
    champion_weights: pd.DataFrame,
    challenger_weights: pd.DataFrame,
) -> pd.DataFrame:
    """One day's parity row, with the engines and the verdict."""
    row = compare_decisions(
        champion, challenger, _physical(champion_weights), _physical(challenger_weights)
    )
    passed, reasons = parity_verdict(row)
    return row.assign(
        champion_engine=str(champion["engine"].iloc[0]) if len(champion) else "",
        challenger_engine=str(challenger["engine"].iloc[0]) if len(challenger) else "",
        passed=passed,
        reasons="; ".join(reasons),
    )


@dg.asset(
    partitions_def=DAILY,
    group_name="selection",
    kinds={"pandas", "parquet"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec(
            "parity_within_thresholds", asset="selection_parity", partitions_def=DAILY
        )
    ],
)
def selection_parity(
    context: dg.AssetExecutionContext,
    selection: pd.DataFrame,
    selection_challenger: pd.DataFrame,
    allocation: pd.DataFrame,
    allocation_challenger: pd.DataFrame,
):
    """Champion against challenger on day D: selected-set overlap, score ranks, book distance."""
    days = partition_days(context)
    inputs = [
        DaySlices(f) for f in (selection, selection_challenger, allocation, allocation_challenger)
    ]
    frames = [stamp(day_parity(*(by_day[day] for by_day in inputs)), day) for day in days]
    table = pd.concat(frames, ignore_index=True)
    last = day_rows(table, days[-1]).iloc[0]
    numbers = {
        k: dg.MetadataValue.float(float(last[k])) for k in ("jaccard", "spearman", "weight_l1")
    }
    yield dg.Output(table, metadata=numbers)
    failing = table.loc[~table["passed"]]
    yield dg.AssetCheckResult(
        check_name="parity_within_thresholds",
        passed=failing.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "failing_days": dg.MetadataValue.json(
                {
                    d.date().isoformat(): r
                    for d, r in zip(failing["date"], failing["reasons"], strict=True)
                }
            )
        },
        description="Jaccard >= 0.8, Spearman >= 0.9, weight L1 <= 0.25 (docs/methodology.md).",
    )


@dg.asset(
    partitions_def=DAILY,
    group_name="simulation",
    kinds={"pandas", "parquet"},
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        dg.AssetDep(
            name,
            partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-(PROMOTION_WINDOW - 1)),
        )
        for name in ("selection_parity", "simulation", "simulation_challenger")
    ],
)
def promotion_report(
    context: dg.AssetExecutionContext, lake: LakeResource, profile: ProfileResource
) -> dg.Output[pd.DataFrame]:
    """The last 20 days of parity and of both simulations: the evidence for a cutover."""
    config, reader = profile.resolved().selection, lake.reader()
    engines = {"champion": config.champion, "challenger": config.challenger}
    days = partition_days(context)
    # One read per asset for the whole run (a backfill spans many windows), sliced per day.
    first = (pd.Timestamp(days[0]) - pd.Timedelta(days=PROMOTION_WINDOW - 1)).date()
    parity = reader.read_days("selection_parity", first, days[-1])
    ledgers = {
        role: reader.read_days(name, first, days[-1])
        for role, name in (("champion", "simulation"), ("challenger", "simulation_challenger"))
    }
    daily = {role: last_day_returns(ledger) for role, ledger in ledgers.items()}
    frames = []
    for day in days:
        start = pd.Timestamp(day) - pd.Timedelta(days=PROMOTION_WINDOW - 1)
        summary = promotion_summary(
            _window(parity, start, day) if parity is not None else pd.DataFrame({"jaccard": []}),
            _window(daily["champion"], start, day),
            _window(daily["challenger"], start, day),
            engines,
            periods_per_year=sessions_per_year(_window(ledgers["champion"], start, day)),
        )
        frames.append(stamp(summary, day))
    table = pd.concat(frames, ignore_index=True)
    last = day_rows(table, partition_days(context)[-1])
    return dg.Output(table, metadata={"report": dg.MetadataValue.md(last.to_markdown(index=False))})
