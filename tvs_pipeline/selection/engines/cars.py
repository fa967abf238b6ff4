"""CARS 2.1: an additive weighted rank-sum of the same metric probabilities, one strict pass."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.selection.engines.common import (
    claimed,
    decision_frame,
    identities,
    top_per_cluster,
)
from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.scoring import cars_score
from tvs_pipeline.selection.vetoes import (
    HARD_VETOES,
    SOFT_VETOES,
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
    params : SelectionParams, optional
        ``top_n`` (winners per cluster and direction), ``vetoes`` and ``cars_weights``; the
        defaults when omitted.

    Attributes
    ----------
    decisions_ : DataFrame
        ``score`` (CARS, in (0, 1)), ``selected``, ``stage`` (1 when selected, else 0),
        ``reason``.
    stage_ : int
        Always 1.
    """

    def __init__(self, params: SelectionParams | None = None) -> None:
        self.params = params

    def fit(self, frame: pd.DataFrame) -> CarsSelector:
        """Decide every candidate of ``frame`` (features, probabilities and ``cluster``)."""
        params = self.params or SelectionParams()
        thresholds, top_n = params.vetoes, params.top_n
        score = cars_score(frame, params.cars_weights)
        hard = hard_veto_flags(frame, thresholds)[list(HARD_VETOES)]
        soft = soft_veto_flags(frame, thresholds)[list(SOFT_VETOES)]
        eligible = ~hard.any(axis=1) & ~soft.any(axis=1) & (frame["cluster"] >= 1)
        picked = top_per_cluster(frame, eligible, score, top_n)
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
                reasons.append(f"top {top_n} {direction} of cluster {cluster}")
            elif hard_text:
                reasons.append(hard_text)
            elif soft_row.any():
                reasons.append(
                    "vetoed: " + ", ".join(names_soft[j] for j in np.flatnonzero(soft_row))
                )
            elif twin:
                reasons.append(f"another listing of {identity} {direction} was selected")
            else:
                reasons.append(f"outside the top {top_n} {direction} of cluster {cluster}")
        self.stage_ = 1
        self.decisions_ = decision_frame(
            frame.index, score, picked, picked.astype("int64"), reasons
        )
        return self
