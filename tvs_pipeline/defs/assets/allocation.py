"""Allocation and simulation for one day, and the champion's performance report."""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

import dagster as dg
import pandas as pd

from tvs_pipeline.allocation import (
    allocate,
    check_exposure,
    flatten_weights,
    target_exposure,
)
from tvs_pipeline.defs.checks import NIGHTLY_FRESHNESS
from tvs_pipeline.defs.partitions import DAILY, DaySlices, partition_days, stamp
from tvs_pipeline.defs.resources import ReportResource
from tvs_pipeline.funnel.calendars import sessions_before
from tvs_pipeline.simulation import (
    LEDGER_COLUMNS,
    FrictionModel,
    performance_summary,
    walk_forward,
)
from tvs_pipeline.simulation.report import render_report, write_text_atomic
from tvs_pipeline.synthesis import atom_matrix, composition, periods_per_year

__all__ = ["performance_report", "target_weights", "walk_forward_ledger"]


def target_weights(atoms: pd.DataFrame, config) -> pd.DataFrame:
    """Atom weights and physical net weights of one day (kind = atom | physical)."""
    if atoms.empty:
        return pd.DataFrame(columns=["kind", "atom_id", "symbol", "weight", "net_weight"])
    weights = allocate(atom_matrix(atoms), config)
    comp = composition(atoms)
    atom_rows = weights.merge(comp, on="atom_id", how="left")
    physical = flatten_weights(weights[["atom_id", "weight"]], comp)
    check_exposure(physical, target_exposure(weights[["atom_id", "weight"]], comp))
    return pd.concat(
        [atom_rows.assign(kind="atom"), physical.assign(kind="physical")], ignore_index=True
    )


def walk_forward_ledger(atoms: pd.DataFrame, profile) -> pd.DataFrame:
    """The friction-aware walk-forward of one day's atoms over the window ending D.

    Rebalances after the entry fall on the atoms' shared-session grid, so the walk-forwards of
    consecutive days trade on the same dates.
    """
    matrix = atom_matrix(atoms)
    if matrix.empty:
        return pd.DataFrame(columns=list(LEDGER_COLUMNS))

    def decide(history: pd.DataFrame) -> pd.Series:
        return allocate(history, profile.allocation).set_index("atom_id")["weight"]

    return walk_forward(
        matrix,
        decide,
        step=profile.run.step,
        warmup=profile.allocation.estimation_days,
        friction=FrictionModel.from_config(profile.simulation),
        phase=sessions_before(atoms["calendar"].unique().tolist(), matrix.index[0]),
    )


@dg.asset(
    partitions_def=DAILY,
    group_name="simulation",
    kinds={"pandas", "parquet", "markdown"},
    freshness_policy=NIGHTLY_FRESHNESS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def performance_report(
    context: dg.AssetExecutionContext,
    simulation: pd.DataFrame,
    synthesis: pd.DataFrame,
    allocation: pd.DataFrame,
    selection: pd.DataFrame,
    reports: ReportResource,
) -> dg.Output[pd.DataFrame]:
    """Performance metrics of day D's simulation, and the Markdown tear sheet beside the lake."""
    ledgers, atoms = DaySlices(simulation), DaySlices(synthesis)
    weights, decisions = DaySlices(allocation), DaySlices(selection)
    frames = []
    for day in partition_days(context):
        ledger = ledgers[day]
        summary = performance_summary(ledger, periods_per_year(atoms[day]))
        path = reports.path_for(day, "report.md")
        text = render_report(day, summary, ledger, weights[day], decisions[day])
        write_text_atomic(path, text)
        metrics = pd.DataFrame(
            {"metric": list(summary), "value": [float(v) for v in summary.values()]}
        )
        frames.append(stamp(metrics.assign(report_path=str(path)), day))
    table = pd.concat(frames, ignore_index=True)
    return dg.Output(table, metadata={"report": dg.MetadataValue.path(str(path))})
