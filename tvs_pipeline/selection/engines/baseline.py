"""The pass-through baseline: every candidate with returns is selected."""

from __future__ import annotations

import pandas as pd

from tvs_pipeline.selection.engines.common import decision_frame
from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.scoring import log_mps_score

__all__ = ["BaselineSelector"]


class BaselineSelector:
    """``baseline``: select every candidate that has returns; vetoes are recorded, not applied.

    The yardstick of selection alpha: the canonical universe itself. The score is the Log-MPS
    conviction, for the record only.

    Parameters
    ----------
    params : SelectionParams, optional
        ``weights`` and ``fragility_penalty`` of the recorded score (`log_mps_score`).

    Attributes
    ----------
    decisions_ : DataFrame
        ``score``, ``selected``, ``stage`` (1 when selected, else 0), ``reason``.
    stage_ : int
        Always 1.
    """

    def __init__(self, params: SelectionParams | None = None) -> None:
        self.params = params

    def fit(self, frame: pd.DataFrame) -> BaselineSelector:
        """Decide every candidate of ``frame`` (features and probabilities)."""
        has = frame["n_obs"] > 0
        params = self.params or SelectionParams()
        score = log_mps_score(frame, params.weights, params.fragility_penalty).where(has)
        reasons = ["pass-through" if ok else "missing data: no returns" for ok in has.tolist()]
        self.stage_ = 1
        self.decisions_ = decision_frame(frame.index, score, has, has.astype("int64"), reasons)
        return self
