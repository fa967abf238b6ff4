"""The selection output table: the candidates' own columns, then every decision column."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.errors import DataError
from tvs_pipeline.selection.features import FEATURE_COLUMNS
from tvs_pipeline.selection.scoring import METRICS

__all__ = [
    "PROBABILITY_COLUMNS",
    "SELECTION_COLUMNS",
    "decision_table",
    "prepare_candidates",
    "rank_within_direction",
]

PROBABILITY_COLUMNS = tuple(f"p_{name}" for name in METRICS)
# Added to the candidates' own columns, in this order (``adx`` only when the candidates lack it).
SELECTION_COLUMNS = (
    "engine",
    "selected",
    "stage",
    "ladder_stage",
    "cluster",
    "score",
    "rank",
    "reason",
    "vetoes",
    "hard_veto",
    "veto_detail",
    *FEATURE_COLUMNS,
    *PROBABILITY_COLUMNS,
)


def prepare_candidates(candidates: pd.DataFrame) -> pd.DataFrame:
    """The day's candidates on a RangeIndex, refused when a column clashes with the output.

    Parameters
    ----------
    candidates : DataFrame
        One row per candidate, any index (see `select`).

    Returns
    -------
    DataFrame
        The same rows and columns in input order, RangeIndex (a new frame).

    Raises
    ------
    DataError
        A candidate column other than ``adx`` has the name of an output column.
    """
    clash = sorted(set(SELECTION_COLUMNS).intersection(candidates.columns) - {"adx"})
    if clash:
        raise DataError(f"selection candidates: columns {clash} clash with selection output")
    return candidates.reset_index(drop=True)


def rank_within_direction(score: pd.Series, features: pd.DataFrame) -> pd.Series:
    """Rank of the engine score within each direction (1 best, ties by symbol).

    Returns
    -------
    Series
        Index of ``features``, float; NaN for a candidate without returns or score.
    """
    scored = score.where(features["n_obs"] > 0)
    keys = pd.DataFrame(
        {"neg": -scored, "symbol": features["symbol"], "direction": features["direction"]}
    ).sort_values(["neg", "symbol"], kind="mergesort", na_position="last")
    ranks = keys.groupby("direction", sort=False).cumcount() + 1.0
    return ranks.reindex(features.index).where(scored.notna()).astype("float64")


def decision_table(
    candidates: pd.DataFrame,
    frame: pd.DataFrame,
    vetoes: pd.DataFrame,
    decisions: pd.DataFrame,
    engine: str,
    ladder_stage: int,
) -> pd.DataFrame:
    """Assemble `select`'s output from the pieces every engine shares.

    Parameters
    ----------
    candidates : DataFrame
        `prepare_candidates` output (RangeIndex).
    frame : DataFrame
        Same index: the feature frame joined with the metric probabilities and ``cluster``.
    vetoes : DataFrame
        Same index: `veto_table` at the strict thresholds.
    decisions : DataFrame
        Same index: ``DECISION_COLUMNS`` (``score``, ``selected``, ``stage``, ``reason``).
    engine : str
        The engine's registry name.
    ladder_stage : int
        Where the engine stopped.

    Returns
    -------
    DataFrame
        Index of ``candidates``: its columns, then ``SELECTION_COLUMNS`` (``adx`` is the
        candidates' own when they carry it).
    """
    added = pd.DataFrame(
        {
            "engine": pd.array([engine] * len(frame), dtype="str"),
            "selected": decisions["selected"],
            "stage": decisions["stage"],
            "ladder_stage": np.full(len(frame), ladder_stage, dtype=np.int64),
            "cluster": frame["cluster"],
            "score": decisions["score"],
            "rank": rank_within_direction(decisions["score"], frame),
            "reason": decisions["reason"],
            **{column: vetoes[column] for column in ("vetoes", "hard_veto", "veto_detail")},
            **{column: frame[column] for column in (*FEATURE_COLUMNS, *PROBABILITY_COLUMNS)},
        },
        index=candidates.index,
    )
    if "adx" in candidates:
        added = added.drop(columns=["adx"])
    return pd.concat([candidates, added], axis=1)
