"""Allocation: risk profiles translated by five engines, regime-aware risk controls.

The package re-exports what does not depend on other stages; the day's book
(`tvs_pipeline.allocation.book`) and the atom-to-listing weights
(`tvs_pipeline.allocation.weights`) read synthesis and are imported by their module path.
"""

from __future__ import annotations

from tvs_pipeline.allocation.params import AllocationParams, ClusterCaps
from tvs_pipeline.allocation.profiles import PROFILES, Profile, make_profile
from tvs_pipeline.allocation.regime import Regime, RegimeThresholds, detect_regime, regime_series
from tvs_pipeline.allocation.solver import (
    Allocation,
    atom_betas,
    beta_tolerance,
    optimize,
    solve_allocation,
)

__all__ = [
    "PROFILES",
    "Allocation",
    "AllocationParams",
    "ClusterCaps",
    "Profile",
    "Regime",
    "RegimeThresholds",
    "atom_betas",
    "beta_tolerance",
    "detect_regime",
    "make_profile",
    "optimize",
    "regime_series",
    "solve_allocation",
]
