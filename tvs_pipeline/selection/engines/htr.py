"""HTR v3.4 (hierarchical threshold relaxation, the champion) and its liquidity-ranked twin."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.engines.common import (
    claimed,
    decision_frame,
    identities,
    order_by_score,
    top_per_cluster,
)
from tvs_pipeline.selection.params import DEFAULT_MIN_POOL, DEFAULT_TOP_N
from tvs_pipeline.selection.scoring import DEFAULT_FRAGILITY_PENALTY, log_mps_score
from tvs_pipeline.selection.vetoes import (
    SOFT_VETOES,
    VetoThresholds,
    hard_veto_flags,
    hard_veto_reasons,
    soft_veto_flags,
)

__all__ = ["HtrSelector", "LiquidHtrSelector"]

STAGE_TEXT = {
    1: "stage 1: top {n} {direction} of cluster {cluster}",
    2: "stage 2: top {n} {direction} of cluster {cluster}, admitted by the relaxed thresholds",
    3: "stage 3: representative of fully vetoed cluster {cluster}",
    4: "stage 4: filled to the minimum pool of {pool}",
}
RELAXED_BUT_STRICT = (
    "stage 2: top {n} {direction} of cluster {cluster}, passes the strict thresholds"
)


def _codes(flags: pd.DataFrame) -> list[list[str]]:
    names = list(flags.columns)
    return [[names[j] for j in np.flatnonzero(row)] for row in flags.to_numpy()]


def _representatives(
    frame: pd.DataFrame, passes: pd.Series, calm: pd.Series, score: pd.Series
) -> pd.Series:
    """Stage 3: the best calm candidate of each cluster where nobody passes the vetoes."""
    covered = passes.groupby(frame["cluster"]).transform("any")
    order = order_by_score(frame, score)
    ranked = frame.iloc[order][["cluster"]]
    ranked = ranked.loc[(calm & ~covered).iloc[order].to_numpy()]
    chosen = ranked.drop_duplicates("cluster").index
    return pd.Series(frame.index.isin(chosen), index=frame.index)


def _fill(frame: pd.DataFrame, allowed: pd.Series, score: pd.Series, count: int) -> pd.Series:
    """Stage 4: the ``count`` best-scored allowed candidates, one per identity and side."""
    order = order_by_score(frame, score)
    ranked = frame.iloc[order][["direction"]].assign(
        identity=identities(frame).iloc[order].to_numpy()
    )
    ranked = ranked.loc[allowed.iloc[order].to_numpy()]
    chosen = ranked.drop_duplicates(["identity", "direction"]).index[: max(count, 0)]
    return pd.Series(frame.index.isin(chosen), index=frame.index)


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

    Parameters
    ----------
    top_n : int, default 2
        Winners per cluster and direction in stages 1 and 2.
    min_pool : int, default 15
        Winners the ladder aims for.
    thresholds : VetoThresholds, optional
        Stage-1 thresholds (default ``VetoThresholds()``).
    weights : mapping, optional
        Log-MPS exponents overriding ``DEFAULT_WEIGHTS``.
    fragility_penalty : float, default 0.5
        See `log_mps_score`.

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

    def __init__(
        self,
        top_n: int = DEFAULT_TOP_N,
        min_pool: int = DEFAULT_MIN_POOL,
        thresholds: VetoThresholds | None = None,
        weights: Mapping[str, float] | None = None,
        fragility_penalty: float = DEFAULT_FRAGILITY_PENALTY,
    ) -> None:
        self.top_n = top_n
        self.min_pool = min_pool
        self.thresholds = thresholds
        self.weights = weights
        self.fragility_penalty = fragility_penalty

    def _score(self, frame: pd.DataFrame) -> pd.Series:
        """The ranking score: Log-MPS conviction."""
        return log_mps_score(frame, self.weights, self.fragility_penalty)

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

        Raises
        ------
        ConfigError
            ``top_n`` below 1 or ``min_pool`` below 0.
        """
        if self.top_n < 1 or self.min_pool < 0:
            raise ConfigError(
                f"{type(self).__name__}: top_n {self.top_n} must be >= 1 and "
                f"min_pool {self.min_pool} >= 0"
            )
        strict = self.thresholds or VetoThresholds()
        relaxed = strict.relaxed()
        score = self._score(frame)
        hard = hard_veto_flags(frame, strict).any(axis=1) | (frame["cluster"] < 1)
        strict_soft = soft_veto_flags(frame, strict)
        relaxed_soft = soft_veto_flags(frame, relaxed)
        calm = ~hard & (frame["entropy"] <= strict.entropy_hard_stop)  # fallbacks' hard stop
        final = 1
        picked = top_per_cluster(frame, ~hard & ~strict_soft.any(axis=1), score, self.top_n)
        stage = picked.astype("int64")
        if picked.sum() < self.min_pool:
            final = 2
            passes = ~hard & ~relaxed_soft.any(axis=1)
            picked = top_per_cluster(frame, passes, score, self.top_n)
            stage = picked * np.where(strict_soft.any(axis=1), 2, 1)
            if picked.sum() < self.min_pool:
                final = 3
                representatives = _representatives(frame, passes, calm, score)
                representatives &= ~claimed(frame, picked)
                picked, stage = picked | representatives, stage.mask(representatives, 3)
            if picked.sum() < self.min_pool:
                final = 4
                allowed = calm & ~picked & ~claimed(frame, picked)
                filled = _fill(frame, allowed, score, self.min_pool - int(picked.sum()))
                picked, stage = picked | filled, stage.mask(filled, 4)
        soft_final = relaxed_soft if final > 1 else strict_soft
        hard_text = hard_veto_reasons(frame, strict)
        reasons = self._reasons(frame, hard_text, soft_final, stage, final, strict)
        self.stage_ = final
        self.thresholds_ = {1: strict, 2: relaxed}
        self.decisions_ = decision_frame(frame.index, score, stage > 0, stage, reasons)
        return self

    def _reasons(
        self,
        frame: pd.DataFrame,
        hard_text: list[str],
        soft: pd.DataFrame,
        stage: pd.Series,
        final: int,
        strict: VetoThresholds,
    ) -> list[str]:
        soft_codes = _codes(soft[list(SOFT_VETOES)])
        above_stop = (frame["entropy"] > strict.entropy_hard_stop).to_numpy()
        twins = claimed(frame, stage > 0).tolist()
        out = []
        rows = zip(
            frame["direction"].tolist(),
            frame["cluster"].tolist(),
            stage.tolist(),
            hard_text,
            soft_codes,
            above_stop.tolist(),
            twins,
            identities(frame).tolist(),
            strict=True,
        )
        for direction, cluster, tag, hard, soft_list, stop, twin, identity in rows:
            if tag:
                template = RELAXED_BUT_STRICT if tag == 1 and final > 1 else STAGE_TEXT[tag]
                text = template.format(
                    n=self.top_n, direction=direction, cluster=cluster, pool=self.min_pool
                )
            elif hard:
                text = hard
            elif soft_list:
                stopped = ["entropy above the hard stop"] if final >= 3 and stop else []
                text = "vetoed: " + ", ".join([*soft_list, *stopped])
            elif twin:
                text = f"another listing of {identity} {direction} was selected"
            elif final == 4:
                text = (
                    "vetoed: entropy above the hard stop"
                    if stop
                    else f"not needed: the pool of {self.min_pool} was filled by higher scores"
                )
            else:
                text = f"outside the top {self.top_n} {direction} of cluster {cluster}"
            out.append(text)
        return out


class LiquidHtrSelector(HtrSelector):
    """``liquid_htr``: the HTR ladder and vetoes, ranked by liquidity alone.

    The score is ``p_liquidity`` (``Phi`` of the z-score of log10 ADV in USD); a candidate
    whose liquidity is unknown scores 0 and ranks last. Beside ``htr_3_4`` it separates what
    clustering and vetoes add from what the conviction score adds.

    Parameters
    ----------
    top_n, min_pool, thresholds
        As `HtrSelector`.
    """

    def __init__(
        self,
        top_n: int = DEFAULT_TOP_N,
        min_pool: int = DEFAULT_MIN_POOL,
        thresholds: VetoThresholds | None = None,
    ) -> None:
        super().__init__(top_n=top_n, min_pool=min_pool, thresholds=thresholds)

    def _score(self, frame: pd.DataFrame) -> pd.Series:
        """The ranking score: the liquidity probability, 0 when liquidity is unknown."""
        known = frame["liquidity"] > 0
        return frame["p_liquidity"].where(known, 0.0).astype("float64")
