"""The HTR relaxation ladder: strict, relaxed, representation and fill stages over one frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.engines.common import (
    claimed,
    identities,
    order_by_score,
    top_per_cluster,
)
from tvs_pipeline.selection.vetoes import (
    SOFT_VETOES,
    VetoThresholds,
    hard_veto_flags,
    soft_veto_flags,
)

__all__ = [
    "LADDER_STAGES",
    "RELAXED_BUT_STRICT",
    "STAGE_TEXT",
    "Ladder",
    "ladder_reasons",
    "run_ladder",
]

LADDER_STAGES = (1, 2, 3, 4)
STAGE_TEXT = {
    1: "stage 1: top {n} {direction} of cluster {cluster}",
    2: "stage 2: top {n} {direction} of cluster {cluster}, admitted by the relaxed thresholds",
    3: "stage 3: representative of fully vetoed cluster {cluster}",
    4: "stage 4: filled to the minimum pool of {pool}",
}
RELAXED_BUT_STRICT = (
    "stage 2: top {n} {direction} of cluster {cluster}, passes the strict thresholds"
)


@dataclass(frozen=True)
class Ladder:
    """Where the ladder left every candidate of one frame.

    Attributes
    ----------
    picked : Series of bool
        Index of the frame: the recruited candidates.
    stage : Series of int64
        Index of the frame: the stage that recruited each candidate (0 when not selected; 1
        for a stage-2 winner that also passes the strict thresholds).
    final : int
        The stage the ladder stopped at.
    counts : tuple of int
        Winners after each stage walked (``counts[k - 1]`` after stage ``k``).
    strict, relaxed : VetoThresholds
        The thresholds of stages 1 and 2 (stages 3 and 4 keep stage 2's).
    soft : DataFrame
        Soft veto flags (``SOFT_VETOES``) at the final stage's thresholds.
    """

    picked: pd.Series
    stage: pd.Series
    final: int
    counts: tuple[int, ...]
    strict: VetoThresholds
    relaxed: VetoThresholds
    soft: pd.DataFrame


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


def run_ladder(
    frame: pd.DataFrame,
    score: pd.Series,
    top_n: int,
    min_pool: int,
    thresholds: VetoThresholds | None = None,
    max_stage: int = 4,
) -> Ladder:
    """Walk the relaxation ladder until the pool holds ``min_pool`` winners or ``max_stage``.

    1. Strict: in every cluster and direction the ``top_n`` best-scored candidates without a
       veto (`top_per_cluster`).
    2. Relaxed: the same with the entropy ceiling x1.2 and the efficiency floor x0.8.
    3. Representation: stage 2's winners plus, for each cluster where no candidate passes the
       stage-2 vetoes, its best-scored candidate with entropy at or below the hard stop.
    4. Fill: the best-scored remaining candidates with entropy at or below the hard stop,
       whatever their cluster, until the pool holds ``min_pool``.

    Hard vetoes (and ``cluster < 1``) exclude a candidate from every stage; every stage takes
    one listing per identity and side.

    Parameters
    ----------
    frame : DataFrame
        The feature frame (`build_features`) with a ``cluster`` column (int, -1 without one).
    score : Series
        Same index: the ranking score, higher is better.
    top_n : int
        Winners per cluster and direction in stages 1 and 2 (>= 1).
    min_pool : int
        Winners the ladder aims for (>= 0).
    thresholds : VetoThresholds, optional
        Stage-1 thresholds (default ``VetoThresholds()``).
    max_stage : int, default 4
        The last stage the ladder may reach (1 to 4): HTR walks all four; a lower value is a
        stricter relaxation policy (1: strict only, 2: no fallbacks, 3: no global fill).

    Returns
    -------
    Ladder
        The recruited candidates, their stages and where the ladder stopped.

    Raises
    ------
    ConfigError
        ``top_n`` below 1, ``min_pool`` below 0, or ``max_stage`` outside 1..4.
    """
    if top_n < 1 or min_pool < 0:
        raise ConfigError(f"ladder: top_n {top_n} must be >= 1 and min_pool {min_pool} >= 0")
    if max_stage not in LADDER_STAGES:
        raise ConfigError(f"ladder: max_stage {max_stage!r} must be one of {LADDER_STAGES}")
    strict = thresholds or VetoThresholds()
    relaxed = strict.relaxed()
    hard = hard_veto_flags(frame, strict).any(axis=1) | (frame["cluster"] < 1)
    strict_soft = soft_veto_flags(frame, strict)
    relaxed_soft = soft_veto_flags(frame, relaxed)
    calm = ~hard & (frame["entropy"] <= strict.entropy_hard_stop)  # fallbacks' hard stop
    passes = ~hard & ~relaxed_soft.any(axis=1)
    final = 1
    picked = top_per_cluster(frame, ~hard & ~strict_soft.any(axis=1), score, top_n)
    stage = picked.astype("int64")
    counts = [int(picked.sum())]
    while picked.sum() < min_pool and final < max_stage:
        final += 1
        if final == 2:
            picked = top_per_cluster(frame, passes, score, top_n)
            stage = picked * np.where(strict_soft.any(axis=1), 2, 1)
        elif final == 3:
            representatives = _representatives(frame, passes, calm, score)
            representatives &= ~claimed(frame, picked)
            picked, stage = picked | representatives, stage.mask(representatives, 3)
        else:
            allowed = calm & ~picked & ~claimed(frame, picked)
            filled = _fill(frame, allowed, score, min_pool - int(picked.sum()))
            picked, stage = picked | filled, stage.mask(filled, 4)
        counts.append(int(picked.sum()))
    return Ladder(
        picked=picked.astype(bool),
        stage=stage.astype("int64"),
        final=final,
        counts=tuple(counts),
        strict=strict,
        relaxed=relaxed,
        soft=relaxed_soft if final > 1 else strict_soft,
    )


def _codes(flags: pd.DataFrame) -> list[list[str]]:
    names = list(flags.columns)
    return [[names[j] for j in np.flatnonzero(row)] for row in flags.to_numpy()]


def ladder_reasons(
    frame: pd.DataFrame, ladder: Ladder, top_n: int, min_pool: int, hard_text: list[str]
) -> list[str]:
    """Why each candidate was selected or not, in words.

    Parameters
    ----------
    frame : DataFrame
        The frame the ladder ran on (``symbol``, ``direction``, ``cluster``, ``entropy``,
        optional ``identity``).
    ladder : Ladder
        `run_ladder` output.
    top_n, min_pool : int
        The ladder's parameters (quoted in the reasons).
    hard_text : list of str
        Each candidate's hard vetoes in words (`hard_veto_reasons` at the strict thresholds),
        ``""`` when none.

    Returns
    -------
    list of str
        One reason per row of ``frame``: the recruiting stage, the hard vetoes, the soft
        vetoes at the final thresholds, a twin of the same identity, a pool filled by higher
        scores, or a place outside the cluster's top ``top_n``.
    """
    stage, final = ladder.stage, ladder.final
    soft_codes = _codes(ladder.soft[list(SOFT_VETOES)])
    above_stop = (frame["entropy"] > ladder.strict.entropy_hard_stop).to_numpy()
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
            text = template.format(n=top_n, direction=direction, cluster=cluster, pool=min_pool)
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
                else f"not needed: the pool of {min_pool} was filled by higher scores"
            )
        else:
            text = f"outside the top {top_n} {direction} of cluster {cluster}"
        out.append(text)
    return out
