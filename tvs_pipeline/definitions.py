"""The one Dagster ``Definitions`` object: every asset, check, job, schedule and resource."""

from __future__ import annotations

import dagster as dg

from tvs_pipeline.config import load_profile
from tvs_pipeline.config.schema import ResolvedProfile
from tvs_pipeline.defs.assets.allocation import performance_report
from tvs_pipeline.defs.assets.discovery import discovery
from tvs_pipeline.defs.assets.enrichment import dedup, enrichment
from tvs_pipeline.defs.assets.normalization import bars, data_health, normalization
from tvs_pipeline.defs.assets.parity import promotion_report, selection_parity
from tvs_pipeline.defs.assets.roles import role_assets
from tvs_pipeline.defs.checks import freshness_job, freshness_schedule, latest_partition_fresh
from tvs_pipeline.defs.jobs import nightly_job, nightly_schedule, shadow_job
from tvs_pipeline.defs.resources import build_resources
from tvs_pipeline.defs.sensors import record_run_failure, record_run_success, shadow_after_nightly
from tvs_pipeline.settings import Settings, load_settings

__all__ = [
    "ASSETS",
    "FUNNEL_ASSETS",
    "build_definitions",
    "challenger_assets",
    "champion_assets",
    "defs",
]

FUNNEL_ASSETS = [discovery, bars, data_health, normalization, enrichment, dedup]


def champion_assets(profile: ResolvedProfile) -> list[dg.AssetsDefinition]:
    """The nightly path: the funnel, the champion's role assets and the performance report."""
    return [
        *FUNNEL_ASSETS,
        *role_assets("champion", profile.selection.champion),
        performance_report,
    ]


def challenger_assets(profile: ResolvedProfile) -> list[dg.AssetsDefinition]:
    """The shadow path: the challenger's role assets, the parity and the promotion report.

    The challenger reads the funnel (dedup, normalization) and the champion from the lake.
    """
    return [
        *role_assets("challenger", profile.selection.challenger),
        selection_parity,
        promotion_report,
    ]


# The champion path of the default profile: what tests materialise as "the nightly graph".
ASSETS = champion_assets(load_profile(load_settings().profile))


def build_definitions(settings: Settings, **resource_options: object) -> dg.Definitions:
    """The project's definitions rooted at ``settings`` (tests pass a temporary home)."""
    profile = load_profile(str(resource_options.get("profile") or settings.profile))
    return dg.Definitions(
        assets=[*champion_assets(profile), *challenger_assets(profile)],
        asset_checks=[latest_partition_fresh],
        jobs=[nightly_job, shadow_job, freshness_job],
        schedules=[nightly_schedule(profile.schedule), freshness_schedule],
        sensors=[shadow_after_nightly, record_run_success, record_run_failure],
        resources=build_resources(settings, **resource_options),
    )


defs = build_definitions(load_settings())
