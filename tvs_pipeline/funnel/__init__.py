"""The data funnel before selection: discovery, history, calendars, health, enrichment, identity."""

from __future__ import annotations

from tvs_pipeline.funnel.calendars import market_date, sessions, shared_sessions
from tvs_pipeline.funnel.dedup import dedup_listings
from tvs_pipeline.funnel.discovery import discover
from tvs_pipeline.funnel.enrichment import enrich
from tvs_pipeline.funnel.health import HealthStatus, classify_health
from tvs_pipeline.funnel.identity import canonical_identity, parse_listing
from tvs_pipeline.funnel.normalization import (
    align_to_shared_sessions,
    read_bar_window,
    returns_panel,
    wide_returns,
)

__all__ = [
    "HealthStatus",
    "align_to_shared_sessions",
    "canonical_identity",
    "classify_health",
    "dedup_listings",
    "discover",
    "enrich",
    "market_date",
    "parse_listing",
    "read_bar_window",
    "returns_panel",
    "sessions",
    "shared_sessions",
    "wide_returns",
]
