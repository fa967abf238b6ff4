"""Allocation: engines that weight the atoms, and the flattening of atom weights to symbols."""

from __future__ import annotations

from tvs_pipeline.allocation.book import BOOK_COLUMNS, target_weights
from tvs_pipeline.allocation.engines import (
    COVARIANCE_SHRINKAGE,
    ENGINES,
    PROFILES,
    BaseAllocator,
    CustomAllocator,
    SkfolioAllocator,
    make_allocator,
    shrunk_covariance,
)
from tvs_pipeline.allocation.weights import (
    ALLOCATION_COLUMNS,
    PHYSICAL_COLUMNS,
    allocate,
    check_exposure,
    flatten_weights,
    target_exposure,
)

__all__ = [
    "ALLOCATION_COLUMNS",
    "BOOK_COLUMNS",
    "COVARIANCE_SHRINKAGE",
    "ENGINES",
    "PHYSICAL_COLUMNS",
    "PROFILES",
    "BaseAllocator",
    "CustomAllocator",
    "SkfolioAllocator",
    "allocate",
    "check_exposure",
    "flatten_weights",
    "make_allocator",
    "shrunk_covariance",
    "target_exposure",
    "target_weights",
]
