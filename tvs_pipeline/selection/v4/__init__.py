"""v4 staged selection: an explicit context through six stages, the champion's math underneath."""

from __future__ import annotations

from tvs_pipeline.selection.params import V4Options
from tvs_pipeline.selection.v4.context import (
    AUDIT_COLUMNS,
    PRODUCTS,
    STAGE_NAMES,
    AuditEntry,
    SelectionContext,
    StageClock,
)
from tvs_pipeline.selection.v4.pipeline import (
    AUDIT_ATTR,
    DEFAULT_RUN_ID,
    V4Engine,
    run_v4,
    v4_audit,
)
from tvs_pipeline.selection.v4.stages import (
    ATOM_COLUMNS,
    ClusteringStage,
    FeatureEngineeringStage,
    InferenceStage,
    IngestionStage,
    PolicyStage,
    Stage,
    SynthesisStage,
)

__all__ = [
    "ATOM_COLUMNS",
    "AUDIT_ATTR",
    "AUDIT_COLUMNS",
    "DEFAULT_RUN_ID",
    "PRODUCTS",
    "STAGE_NAMES",
    "AuditEntry",
    "ClusteringStage",
    "FeatureEngineeringStage",
    "InferenceStage",
    "IngestionStage",
    "PolicyStage",
    "SelectionContext",
    "Stage",
    "StageClock",
    "SynthesisStage",
    "V4Engine",
    "V4Options",
    "run_v4",
    "v4_audit",
]
