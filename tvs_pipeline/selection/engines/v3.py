"""The v3 family's day: one feature frame, probabilities, clusters and vetoes, then a rule."""

from __future__ import annotations

import pandas as pd

from tvs_pipeline.selection.clustering import assign_clusters
from tvs_pipeline.selection.engines.common import FrameSelector
from tvs_pipeline.selection.features import build_features
from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.scoring import metric_probabilities
from tvs_pipeline.selection.table import decision_table, prepare_candidates
from tvs_pipeline.selection.vetoes import veto_table

__all__ = ["V3Engine"]


class V3Engine:
    """A v3 engine (``htr_3_4``, ``cars_2_1``, ``liquid_htr``, ``baseline``) as a `SelectionEngine`.

    The feature frame is computed once (`build_features`); metric probabilities, Ward clusters
    and the strict vetoes all read it, and the engine's rule (``selector``) decides.

    Parameters
    ----------
    name : str
        The registry name, written to the ``engine`` column.
    selector : FrameSelector
        The engine's decision rule over the frame.
    params : SelectionParams
        Feature, clustering and veto parameters.
    """

    def __init__(self, name: str, selector: FrameSelector, params: SelectionParams) -> None:
        self.name = name
        self.selector = selector
        self.params = params

    def decide(self, returns: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
        """One day's decisions (see `tvs_pipeline.selection.select`)."""
        params = self.params
        candidates = prepare_candidates(candidates)
        features = build_features(returns, candidates, params.features)
        frame = features.join(metric_probabilities(features))
        frame["cluster"] = assign_clusters(
            returns, features, params.clustering, params.vetoes.min_obs
        )
        fitted = self.selector.fit(frame)
        vetoes = veto_table(features, params.vetoes)
        decisions, stage = fitted.decisions_, fitted.stage_
        return decision_table(candidates, frame, vetoes, decisions, self.name, stage)
