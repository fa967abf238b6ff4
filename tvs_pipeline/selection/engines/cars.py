"""CARS 2.1: an additive weighted rank-sum of the same metric probabilities, one strict pass."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.engines.common import (
    claimed,
    decision_frame,
    identities,
    top_per_cluster,
)
from tvs_pipeline.selection.params import DEFAULT_TOP_N
from tvs_pipeline.selection.scoring import cars_score
from tvs_pipeline.selection.vetoes import (
    HARD_VETOES,
    SOFT_VETOES,
    VetoThresholds,
    hard_veto_flags,
    hard_veto_reasons,
    soft_veto_flags,
)

__all__ = ["CarsSelector"]


class CarsSelector:
    """CARS 2.1: per cluster and direction, the ``top_n`` best by the additive CARS score.

    One pass at the strict thresholds: a candidate with any veto is not recruited, and there is
    no relaxation ladder (a thin day stays thin; HTR is the engine that guarantees a pool).

    Parameters
    ----------
    top_n : int, default 2
        Winners per cluster and direction.
    thresholds : VetoThresholds, optional
        Veto thresholds (default ``VetoThresholds()``).
    weights : mapping, optional
        CARS weights overriding ``DEFAULT_CARS_WEIGHTS``.

    Attributes
    ----------
    decisions_ : DataFrame
        ``score`` (CARS, in (0, 1)), ``selected``, ``stage`` (1 when selected, else 0),
        ``reason``.
    stage_ : int
        Always 1.
    """

    def __init__(
        self,
        top_n: int = DEFAULT_TOP_N,
        thresholds: VetoThresholds | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        self.top_n = top_n
        self.thresholds = thresholds
        self.weights = weights

    def fit(self, frame: pd.DataFrame) -> CarsSelector:
        """Decide every candidate of ``frame`` (features, probabilities and ``cluster``).

        Raises
        ------
        ConfigError
            ``top_n`` below 1, or bad weights.
        """
        if self.top_n < 1:
            raise ConfigError(f"CarsSelector: top_n {self.top_n} must be >= 1")
        thresholds = self.thresholds or VetoThresholds()
        score = cars_score(frame, self.weights)
        hard = hard_veto_flags(frame, thresholds)[list(HARD_VETOES)]
        soft = soft_veto_flags(frame, thresholds)[list(SOFT_VETOES)]
        eligible = ~hard.any(axis=1) & ~soft.any(axis=1) & (frame["cluster"] >= 1)
        picked = top_per_cluster(frame, eligible, score, self.top_n)
        twins = claimed(frame, picked) & eligible
        reasons = []
        names_soft = list(soft.columns)
        rows = zip(
            picked.tolist(),
            hard_veto_reasons(frame, thresholds),
            soft.to_numpy(),
            frame["direction"].tolist(),
            frame["cluster"].tolist(),
            twins.tolist(),
            identities(frame).tolist(),
            strict=True,
        )
        for chosen, hard_text, soft_row, direction, cluster, twin, identity in rows:
            if chosen:
                reasons.append(f"top {self.top_n} {direction} of cluster {cluster}")
            elif hard_text:
                reasons.append(hard_text)
            elif soft_row.any():
                reasons.append(
                    "vetoed: " + ", ".join(names_soft[j] for j in np.flatnonzero(soft_row))
                )
            elif twin:
                reasons.append(f"another listing of {identity} {direction} was selected")
            else:
                reasons.append(f"outside the top {self.top_n} {direction} of cluster {cluster}")
        self.stage_ = 1
        self.decisions_ = decision_frame(
            frame.index, score, picked, picked.astype("int64"), reasons
        )
        return self
