"""HTR v3.4 (hierarchical threshold relaxation, the champion) and its liquidity-ranked twin."""

from __future__ import annotations

import pandas as pd

from tvs_pipeline.selection.engines.common import decision_frame
from tvs_pipeline.selection.ladder import ladder_reasons, run_ladder
from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.scoring import log_mps_score
from tvs_pipeline.selection.vetoes import hard_veto_reasons

__all__ = ["HtrSelector", "LiquidHtrSelector"]


class HtrSelector:
    """HTR v3.4: per-cluster Top-N by Log-MPS conviction with a four-stage relaxation ladder.

    1. Strict: in every cluster and direction the ``top_n`` best-scored candidates without a
       veto.
    2. Relaxed: the same with the entropy ceiling x1.2 and the efficiency floor x0.8.
    3. Representation: stage 2's winners plus, for each cluster where no candidate passes the
       stage-2 vetoes, its best-scored candidate with entropy at or below the hard stop.
    4. Fill: the best-scored remaining candidates with entropy at or below the hard stop,
       whatever their cluster, until the pool holds ``min_pool``.

    The ladder stops at the first stage whose winners number at least ``min_pool``. Hard vetoes
    (missing data, toxic persistence, failed survival) exclude a candidate from every stage.
    The ladder is `run_ladder`, which the v4 policy stage calls too.

    Parameters
    ----------
    params : SelectionParams, optional
        ``top_n`` (winners per cluster and direction in stages 1 and 2), ``min_pool`` (winners
        the ladder aims for), ``vetoes`` (stage-1 thresholds), ``weights`` and
        ``fragility_penalty`` (`log_mps_score`); the defaults when omitted.

    Attributes
    ----------
    decisions_ : DataFrame
        Index of the fitted frame; ``score``, ``selected``, ``stage`` (the stage that recruited
        the candidate, 0 when not selected) and ``reason``.
    stage_ : int
        The stage the ladder stopped at.
    thresholds_ : dict of int to VetoThresholds
        The thresholds of stages 1 and 2.
    """

    def __init__(self, params: SelectionParams | None = None) -> None:
        self.params = params

    def _score(self, frame: pd.DataFrame) -> pd.Series:
        """The ranking score: Log-MPS conviction."""
        params = self.params or SelectionParams()
        return log_mps_score(frame, params.weights, params.fragility_penalty)

    def fit(self, frame: pd.DataFrame) -> HtrSelector:
        """Run the ladder over one day's candidates.

        Parameters
        ----------
        frame : DataFrame
            The feature frame (`build_features`) joined with `metric_probabilities` and a
            ``cluster`` column (int, -1 for a candidate without a cluster).

        Returns
        -------
        HtrSelector
            ``self``, fitted.

        """
        params = self.params or SelectionParams()
        strict, top_n, min_pool = params.vetoes, params.top_n, params.min_pool
        score = self._score(frame)
        ladder = run_ladder(frame, score, top_n, min_pool, strict)
        reasons = ladder_reasons(frame, ladder, top_n, min_pool, hard_veto_reasons(frame, strict))
        self.stage_ = ladder.final
        self.thresholds_ = {1: ladder.strict, 2: ladder.relaxed}
        self.decisions_ = decision_frame(frame.index, score, ladder.picked, ladder.stage, reasons)
        return self


class LiquidHtrSelector(HtrSelector):
    """``liquid_htr``: the HTR ladder and vetoes, ranked by liquidity alone.

    The score is ``p_liquidity`` (``Phi`` of the z-score of log10 ADV in USD); a candidate
    whose liquidity is unknown scores 0 and ranks last. Beside ``htr_3_4`` it separates what
    clustering and vetoes add from what the conviction score adds.

    Parameters
    ----------
    params : SelectionParams, optional
        As `HtrSelector` (the weights are not read).
    """

    def _score(self, frame: pd.DataFrame) -> pd.Series:
        """The ranking score: the liquidity probability, 0 when liquidity is unknown."""
        known = frame["liquidity"] > 0
        return frame["p_liquidity"].where(known, 0.0).astype("float64")
