"""What every selection engine shares: the decision frame and per-cluster recruitment."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

__all__ = [
    "DECISION_COLUMNS",
    "FrameSelector",
    "SelectionEngine",
    "claimed",
    "decision_frame",
    "identities",
    "order_by_score",
    "top_per_cluster",
]

DECISION_COLUMNS = ("score", "selected", "stage", "reason")


class SelectionEngine(Protocol):
    """What every engine of the registry answers: one day's decisions, every candidate kept.

    ``decide(returns, candidates)`` returns `tvs_pipeline.selection.select`'s table (one row
    per candidate, ``SELECTION_COLUMNS`` after the candidates' columns).
    """

    name: str

    def decide(self, returns: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
        """Decide every candidate of one day from the returns up to that day."""
        ...


class FrameSelector(Protocol):
    """The decision rule of a v3 engine over the shared feature frame (scikit-learn style).

    ``fit(frame)`` sets ``decisions_`` (``DECISION_COLUMNS``) and ``stage_`` (where it
    stopped); `tvs_pipeline.selection.engines.v3.V3Engine` builds the frame around it.
    """

    decisions_: pd.DataFrame
    stage_: int

    def fit(self, frame: pd.DataFrame) -> FrameSelector:
        """Decide every candidate of ``frame``."""
        ...


def order_by_score(frame: pd.DataFrame, score: pd.Series) -> np.ndarray:
    """Row positions from the best score down; ties by symbol, then input order (stable)."""
    keys = pd.DataFrame(
        {
            "neg": -score.fillna(-np.inf).to_numpy(),
            "symbol": frame["symbol"].to_numpy(),
            "pos": np.arange(len(frame)),
        }
    )
    return keys.sort_values(["neg", "symbol", "pos"], kind="mergesort")["pos"].to_numpy()


def identities(frame: pd.DataFrame) -> pd.Series:
    """Each candidate's economic identity: its ``identity``, else its symbol."""
    if "identity" not in frame:
        return frame["symbol"].astype("str")
    return frame["identity"].astype("str").where(frame["identity"].notna(), frame["symbol"])


def claimed(frame: pd.DataFrame, picked: pd.Series) -> pd.Series:
    """Candidates whose identity already has a winner on their side (themselves excluded)."""
    keys = identities(frame) + "|" + frame["direction"].astype("str")
    return keys.isin(set(keys[picked])) & ~picked


def top_per_cluster(
    frame: pd.DataFrame, eligible: pd.Series, score: pd.Series, top_n: int
) -> pd.Series:
    """The ``top_n`` best-scored eligible candidates of each cluster and direction.

    One listing per identity and direction: when two eligible candidates are the same asset
    (``identity``) on the same side, only the better-scored one can take a seat.

    Parameters
    ----------
    frame : DataFrame
        ``symbol``, ``direction``, ``cluster`` and optionally ``identity`` per candidate.
    eligible : Series of bool
        Same index: candidates that may be recruited.
    score : Series
        Same index: the engine's ranking score (higher is better).
    top_n : int
        Winners per (cluster, direction).

    Returns
    -------
    Series of bool
        Same index: the recruited candidates.
    """
    order = order_by_score(frame, score)
    ranked = frame.iloc[order][["cluster", "direction"]].assign(
        identity=identities(frame).iloc[order].to_numpy()
    )
    ranked = ranked.loc[eligible.iloc[order].to_numpy()]
    ranked = ranked.drop_duplicates(["identity", "direction"])
    seat = ranked.groupby(["cluster", "direction"], sort=False).cumcount()
    picked = pd.Series(False, index=frame.index)
    picked.loc[seat.index[seat.to_numpy() < top_n]] = True
    return picked


def decision_frame(
    index: pd.Index, score: pd.Series, selected: pd.Series, stage: pd.Series, reason: list[str]
) -> pd.DataFrame:
    """Assemble ``DECISION_COLUMNS`` with their dtypes (float, bool, int64, str)."""
    return pd.DataFrame(
        {
            "score": score.astype("float64").to_numpy(),
            "selected": selected.astype(bool).to_numpy(),
            "stage": stage.astype("int64").to_numpy(),
            "reason": pd.array(reason, dtype="str"),
        },
        index=index,
    )
