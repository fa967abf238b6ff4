"""Roles: champion and challenger assets are named by role, never by the engine playing it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import dagster as dg

from tvs_pipeline.defs.partitions import daily_asset

__all__ = ["ROLE_STAGES", "Role", "asset_name", "role_asset"]

Role = Literal["champion", "challenger"]
ROLE_STAGES = ("selection", "synthesis", "allocation", "simulation")


def asset_name(stage: str, role: Role) -> str:
    """``selection`` for the champion, ``selection_challenger`` for the challenger."""
    return stage if role == "champion" else f"{stage}_challenger"


def role_asset(
    stage: str, role: Role, inputs: Mapping[str, str], *kinds: str, **options: Any
) -> dict[str, Any]:
    """The decorator arguments of one role's asset of a stage.

    ``inputs`` maps each loaded argument to its stage; a role stage resolves to the same
    role's asset (``selection`` -> ``selection_challenger`` for the challenger).
    """
    ins = {
        argument: dg.AssetIn(asset_name(upstream, role) if upstream in ROLE_STAGES else upstream)
        for argument, upstream in inputs.items()
    }
    name = asset_name(stage, role)
    return daily_asset(stage, *kinds, name=name, tags={"tvs/role": role}, ins=ins, **options)
