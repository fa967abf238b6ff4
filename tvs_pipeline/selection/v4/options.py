"""The v4 challenger's own options: with their defaults v4 decides exactly as ``htr_3_4``."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.clustering import Linkage

__all__ = ["V4Options"]


class V4Options(BaseModel):
    """Options of the v4 staged pipeline beyond the shared `SelectionParams`.

    Attributes
    ----------
    max_stage : int, default 4
        The relaxation policy: the last ladder stage the policy may reach (1 strict only,
        2 strict then relaxed, 3 adds one representative per fully vetoed cluster, 4 the full
        HTR ladder with the global fill).
    linkage : {"ward", "average", "complete", "single"}, default "ward"
        How the clustering stage links the correlation distances (`cluster_listings`); the cut
        height stays ``cluster_threshold``.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    max_stage: int = Field(4, ge=1, le=4)
    linkage: Linkage = "ward"

    @classmethod
    def from_kwargs(cls, options: Mapping[str, object]) -> V4Options:
        """Build from keyword options; a bad one raises a one-line `ConfigError`.

        Raises
        ------
        ConfigError
            An unknown option or a value of the wrong type or out of range.
        """
        try:
            return cls(**options)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ConfigError(
                f"selection v4: {where}: {first['msg']} (got {first.get('input')!r})"
            ) from err

    @property
    def htr_equivalent(self) -> bool:
        """True when every option has its default: v4 then reproduces ``htr_3_4``."""
        return self == V4Options()
