"""The role paths: selection, synthesis, allocation and simulation per role.

Assets are named by role (``selection``, ``selection_challenger`` ...); which engine plays a role
is one line of profile config, read at run time, so a cutover renames nothing.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource
# annotations at definition time and rejects string annotations.

from typing import Literal

import dagster as dg
import pandas as pd

from tvs_pipeline.defs.assets.allocation import target_weights, walk_forward_ledger
from tvs_pipeline.defs.assets.selection import selection_metadata
from tvs_pipeline.defs.partitions import (
    DAILY,
    DaySlices,
    day_rows,
    partition_days,
    stamp_days,
)
from tvs_pipeline.defs.resources import ComputeResource, ProfileResource
from tvs_pipeline.lake.ledger import AUDIT_TRAIL_ATTR
from tvs_pipeline.selection.day import select_day
from tvs_pipeline.simulation import performance_summary
from tvs_pipeline.synthesis import build_atoms, periods_per_year

__all__ = ["ROLE_STAGES", "Role", "asset_name", "role_assets"]

Role = Literal["champion", "challenger"]
ROLE_STAGES = ("selection", "synthesis", "allocation", "simulation")
SINGLE_RUN = dg.BackfillPolicy.single_run()


def asset_name(stage: str, role: Role) -> str:
    """``selection`` for the champion, ``selection_challenger`` for the challenger."""
    return stage if role == "champion" else f"{stage}_challenger"


def role_assets(role: Role, engine: str) -> list[dg.AssetsDefinition]:
    """The four assets of one role; ``engine`` (the profile's, when built) is the code version.

    The code version changes on a cutover, so Dagster shows the role's partitions as stale
    until they are re-materialised with the new engine.
    """
    tags = {"tvs/role": role}

    @dg.asset(
        name=asset_name("selection", role),
        partitions_def=DAILY,
        group_name="selection",
        kinds={"pandas", "parquet"},
        backfill_policy=SINGLE_RUN,
        code_version=engine,
        tags=tags,
        ins={"dedup": dg.AssetIn("dedup"), "normalization": dg.AssetIn("normalization")},
    )
    def selection_asset(
        context: dg.AssetExecutionContext,
        dedup: pd.DataFrame,
        normalization: pd.DataFrame,
        profile: ProfileResource,
        compute: ComputeResource,
    ) -> dg.Output[pd.DataFrame]:
        """Every candidate of day D: this role's decision, stage, cluster, score, vetoes."""
        config, days = profile.resolved().selection, partition_days(context)
        name = config.engine_for(role)
        panels, candidates = DaySlices(normalization), DaySlices(dedup)
        decided = compute.map(
            select_day, [(panels[day], candidates[day], config, day, name) for day in days]
        )
        frames = stamp_days(decided, days)
        # An engine's audit trail (v4's) per day: concat keeps attrs only when all days agree.
        trails = {
            day.isoformat(): frame.attrs[AUDIT_TRAIL_ATTR]
            for day, frame in zip(days, frames, strict=True)
            if AUDIT_TRAIL_ATTR in frame.attrs
        }
        table = pd.concat(frames, ignore_index=True)
        table.attrs = {AUDIT_TRAIL_ATTR: trails} if trails else {}
        metadata = selection_metadata(day_rows(table, days[-1]))
        return dg.Output(table, metadata={**metadata, "role": dg.MetadataValue.text(role)})

    @dg.asset(
        name=asset_name("synthesis", role),
        partitions_def=DAILY,
        group_name="synthesis",
        kinds={"pandas", "parquet"},
        backfill_policy=SINGLE_RUN,
        tags=tags,
        ins={
            "selection": dg.AssetIn(asset_name("selection", role)),
            "normalization": dg.AssetIn("normalization"),
        },
    )
    def synthesis_asset(
        context: dg.AssetExecutionContext,
        selection: pd.DataFrame,
        normalization: pd.DataFrame,
        compute: ComputeResource,
    ) -> dg.Output[pd.DataFrame]:
        """Return streams of day D's strategy atoms for this role; shorts are synthetic longs."""
        days = partition_days(context)
        decisions, panels = DaySlices(selection), DaySlices(normalization)
        streams = compute.map(build_atoms, [(decisions[day], panels[day]) for day in days])
        frames = stamp_days(streams, days)
        table = pd.concat(frames, ignore_index=True)
        atoms = int(day_rows(table, days[-1])["atom_id"].nunique())
        return dg.Output(table, metadata={"atoms": dg.MetadataValue.int(atoms)})

    @dg.asset(
        name=asset_name("allocation", role),
        partitions_def=DAILY,
        group_name="allocation",
        kinds={"pandas", "parquet", "skfolio"},
        backfill_policy=SINGLE_RUN,
        tags=tags,
        ins={"synthesis": dg.AssetIn(asset_name("synthesis", role))},
    )
    def allocation_asset(
        context: dg.AssetExecutionContext,
        synthesis: pd.DataFrame,
        profile: ProfileResource,
        compute: ComputeResource,
    ) -> dg.Output[pd.DataFrame]:
        """Target weights decided at the close of D (held over D+1): per atom and per listing."""
        config, days = profile.resolved().allocation, partition_days(context)
        atoms = DaySlices(synthesis)
        books = compute.map(target_weights, [(atoms[day], config) for day in days])
        frames = stamp_days(books, days)
        table = pd.concat(frames, ignore_index=True)
        last = day_rows(table, days[-1])
        physical = last.loc[last["kind"] == "physical", ["symbol", "net_weight"]]
        return dg.Output(
            table,
            metadata={
                "engine": dg.MetadataValue.text(f"{config.engine}/{config.profile}"),
                "weights": dg.MetadataValue.md(physical.to_markdown(index=False) or "_none_"),
            },
        )

    @dg.asset(
        name=asset_name("simulation", role),
        partitions_def=DAILY,
        group_name="simulation",
        kinds={"pandas", "parquet"},
        backfill_policy=SINGLE_RUN,
        tags=tags,
        ins={"synthesis": dg.AssetIn(asset_name("synthesis", role))},
    )
    def simulation_asset(
        context: dg.AssetExecutionContext,
        synthesis: pd.DataFrame,
        profile: ProfileResource,
        compute: ComputeResource,
    ) -> dg.Output[pd.DataFrame]:
        """Daily P&L ledger of day D's atoms walked forward over the lookback, with friction.

        Weights decided at a rebalance close are traded and held from the next session; only
        data up to D is used.
        """
        resolved, days = profile.resolved(), partition_days(context)
        atoms = DaySlices(synthesis)
        ledgers = compute.map(walk_forward_ledger, [(atoms[day], resolved) for day in days])
        frames = stamp_days(ledgers, days)
        table = pd.concat(frames, ignore_index=True)
        summary = performance_summary(day_rows(table, days[-1]), periods_per_year(atoms[days[-1]]))
        return dg.Output(
            table, metadata={k: dg.MetadataValue.float(float(v)) for k, v in summary.items()}
        )

    return [selection_asset, synthesis_asset, allocation_asset, simulation_asset]
