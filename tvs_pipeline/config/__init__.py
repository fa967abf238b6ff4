"""Layered configuration: strict schemas for L0-L4 and profiles, and the loader that merges them."""

from __future__ import annotations

from tvs_pipeline.config.loader import (
    PRESETS_ROOT,
    deep_merge,
    list_profiles,
    load_profile,
    load_scanner,
    resolved_to_yaml,
)
from tvs_pipeline.config.schema import (
    FilterRule,
    ProfileConfig,
    ResolvedProfile,
    ResolvedScanner,
)

__all__ = [
    "PRESETS_ROOT",
    "FilterRule",
    "ProfileConfig",
    "ResolvedProfile",
    "ResolvedScanner",
    "deep_merge",
    "list_profiles",
    "load_profile",
    "load_scanner",
    "resolved_to_yaml",
]
