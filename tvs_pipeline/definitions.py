"""The one Dagster ``Definitions`` object: every asset, check, job, schedule and resource."""

from __future__ import annotations

import dagster as dg

from tvs_pipeline.config import load_profile
from tvs_pipeline.defs.assets.allocation import allocation, performance_report, simulation
from tvs_pipeline.defs.assets.discovery import discovery
from tvs_pipeline.defs.assets.enrichment import dedup, enrichment
from tvs_pipeline.defs.assets.normalization import bars, data_health, normalization
from tvs_pipeline.defs.assets.selection import selection, synthesis
from tvs_pipeline.defs.jobs import nightly_job, nightly_schedule
from tvs_pipeline.defs.resources import build_resources
from tvs_pipeline.settings import Settings, load_settings

__all__ = ["ASSETS", "build_definitions", "defs"]

ASSETS = [
    discovery,
    bars,
    data_health,
    normalization,
    enrichment,
    dedup,
    selection,
    synthesis,
    allocation,
    simulation,
    performance_report,
]


def build_definitions(settings: Settings, **resource_options: object) -> dg.Definitions:
    """The project's definitions rooted at ``settings`` (tests pass a temporary home)."""
    profile = load_profile(str(resource_options.get("profile") or settings.profile))
    return dg.Definitions(
        assets=ASSETS,
        jobs=[nightly_job],
        schedules=[nightly_schedule(profile.schedule)],
        resources=build_resources(settings, **resource_options),
    )


defs = build_definitions(load_settings())
