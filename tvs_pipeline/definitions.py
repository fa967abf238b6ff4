"""The one Dagster ``Definitions`` object: every asset, check, job, schedule and resource."""

from __future__ import annotations

import dagster as dg

from tvs_pipeline.config.schema import ResolvedProfile
from tvs_pipeline.defs.assets.allocation import allocation_asset, market
from tvs_pipeline.defs.assets.dedup import dedup
from tvs_pipeline.defs.assets.discovery import discovery
from tvs_pipeline.defs.assets.enrichment import enrichment_asset
from tvs_pipeline.defs.assets.normalization import normalization_assets
from tvs_pipeline.defs.assets.selection import selection_asset, selection_parity
from tvs_pipeline.defs.assets.simulation import (
    performance_report,
    promotion_report,
    simulation_asset,
)
from tvs_pipeline.defs.assets.synthesis import synthesis_asset
from tvs_pipeline.defs.assets.tournament import tournament
from tvs_pipeline.defs.backfill import bars_sync_job, chunk_policy
from tvs_pipeline.defs.checks import freshness_job, freshness_schedule, latest_partition_fresh
from tvs_pipeline.defs.jobs import nightly_job, nightly_schedule, shadow_job, tournament_job
from tvs_pipeline.defs.resources import build_resources, resolved_profile
from tvs_pipeline.defs.roles import Role
from tvs_pipeline.defs.sensors import (
    record_run_failure,
    record_run_success,
    shadow_after_nightly,
    tournament_after_nightly,
)
from tvs_pipeline.settings import Settings, load_settings

__all__ = [
    "ASSETS",
    "build_definitions",
    "challenger_assets",
    "champion_assets",
    "defs",
    "funnel_assets",
    "role_assets",
]


def funnel_assets(profile: ResolvedProfile) -> list[dg.AssetsDefinition]:
    """Discovery to dedup; the history windows are the profile's ``run.lookback_days``."""
    return [discovery, *normalization_assets(profile), enrichment_asset(profile), dedup]


def role_assets(role: Role, profile: ResolvedProfile) -> list[dg.AssetsDefinition]:
    """One role's selection, synthesis, allocation and simulation.

    The engine the profile gives the role is the selection's code version.
    """
    return [
        selection_asset(role, profile.selection.engine_for(role)),
        synthesis_asset(role),
        allocation_asset(role),
        simulation_asset(role),
    ]


def champion_assets(profile: ResolvedProfile) -> list[dg.AssetsDefinition]:
    """The nightly path: the funnel, the champion's role assets and the performance report."""
    return [
        *funnel_assets(profile),
        market,
        *role_assets("champion", profile),
        performance_report,
    ]


def challenger_assets(profile: ResolvedProfile) -> list[dg.AssetsDefinition]:
    """The shadow path: the challenger's role assets, the parity and the promotion report.

    The challenger reads the funnel (dedup, normalization) and the champion from the lake.
    """
    return [*role_assets("challenger", profile), selection_parity, promotion_report]


def build_definitions(settings: Settings, **resource_options: object) -> dg.Definitions:
    """The project's definitions rooted at ``settings`` (tests pass a temporary home).

    The assets are built for the profile the runs read (``profile`` among the resource
    options, else the settings'): its lookback is their declared history window. The profile
    is read once per process (`resources.resolved_profile`), here and in the runs. With
    ``settings.chunk_days`` (``$TVS_CHUNK_DAYS``) the daily assets backfill in runs of that
    many days (`defs.backfill.chunk_policy`).
    """
    profile = resolved_profile(str(resource_options.get("profile") or settings.profile))
    assets = [*champion_assets(profile), *challenger_assets(profile)]
    return dg.Definitions(
        # $TVS_CHUNK_DAYS: a backfill runs as runs of that many days (defs/backfill.py).
        assets=[*chunk_policy(assets, settings.chunk_days), tournament],
        asset_checks=[latest_partition_fresh],
        jobs=[nightly_job, shadow_job, freshness_job, tournament_job, bars_sync_job],
        schedules=[nightly_schedule(profile.schedule), freshness_schedule],
        sensors=[
            shadow_after_nightly,
            tournament_after_nightly,
            record_run_success,
            record_run_failure,
        ],
        resources=build_resources(settings, **resource_options),
        # The runs of an asset backfill: one process, like the jobs (the funnel is a chain).
        executor=dg.in_process_executor,
    )


_SETTINGS = load_settings()
# The champion path of the default profile: what tests materialise as "the nightly graph".
ASSETS = champion_assets(resolved_profile(_SETTINGS.profile))
defs = build_definitions(_SETTINGS)
