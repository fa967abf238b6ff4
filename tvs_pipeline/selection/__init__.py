"""Selection: a robust, diversified subset of the canonical universe; every candidate decided."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.errors import DataError
from tvs_pipeline.selection.clustering import cluster_listings
from tvs_pipeline.selection.efficiency import efficiency_ratio
from tvs_pipeline.selection.engines import ENGINES, make_selector
from tvs_pipeline.selection.entropy import permutation_entropy
from tvs_pipeline.selection.features import FEATURE_COLUMNS, build_features
from tvs_pipeline.selection.hurst import hurst_exponent
from tvs_pipeline.selection.params import SelectionParams
from tvs_pipeline.selection.scoring import METRICS, metric_probabilities
from tvs_pipeline.selection.summary import funnel_counts, winners_table
from tvs_pipeline.selection.vetoes import VETO_CODES, veto_table

__all__ = [
    "ENGINES",
    "FEATURE_COLUMNS",
    "PROBABILITY_COLUMNS",
    "SELECTION_COLUMNS",
    "VETO_CODES",
    "SelectionParams",
    "assign_clusters",
    "build_features",
    "efficiency_ratio",
    "funnel_counts",
    "hurst_exponent",
    "permutation_entropy",
    "select",
    "winners_table",
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


def assign_clusters(
    returns: pd.DataFrame, features: pd.DataFrame, params: SelectionParams
) -> pd.Series:
    """The cluster of every candidate: its listing's cluster among the day's listings.

    Listings with at least ``min_obs`` returns are clustered together (`cluster_listings`,
    columns in symbol order so ids are reproducible); a candidate with missing data gets -1.

    Parameters
    ----------
    returns : DataFrame
        The day's returns (dates x symbols).
    features : DataFrame
        The feature frame (`build_features`): ``symbol`` and ``n_obs`` are read.
    params : SelectionParams
        ``min_obs`` and the ``cluster_*`` parameters.

    Returns
    -------
    Series
        Index of ``features``, int64 cluster ids (1, 2, ...) or -1.
    """
    enough = features["n_obs"] >= params.min_obs
    symbols = sorted(set(features.loc[enough, "symbol"]))
    clusters = cluster_listings(
        returns.sort_index()[symbols],
        threshold=params.cluster_threshold,
        max_clusters=params.max_clusters,
        lookbacks=params.cluster_lookbacks,
        shrinkage=params.cluster_shrinkage,
    )
    ids = features["symbol"].map(clusters).where(enough)
    return ids.fillna(-1).astype("int64")


def _rank(score: pd.Series, features: pd.DataFrame) -> pd.Series:
    """Rank of the engine score within each direction (1 best); NaN without returns."""
    scored = score.where(features["n_obs"] > 0)
    keys = pd.DataFrame(
        {"neg": -scored, "symbol": features["symbol"], "direction": features["direction"]}
    ).sort_values(["neg", "symbol"], kind="mergesort", na_position="last")
    ranks = keys.groupby("direction", sort=False).cumcount() + 1.0
    return ranks.reindex(features.index).where(scored.notna()).astype("float64")


def select(
    returns: pd.DataFrame, candidates: pd.DataFrame, engine: str, **params: object
) -> pd.DataFrame:
    """Run a selection engine over one day's candidates; every candidate keeps its decision.

    The feature frame is computed once (`build_features`); metric probabilities, clusters and
    vetoes all read it, then the engine decides.

    Parameters
    ----------
    returns : DataFrame
        Daily simple returns: index market dates, one column per symbol, NaN off-session; only
        data up to the as-of date (the caller's window).
    candidates : DataFrame
        One row per candidate, any index: ``symbol`` and ``direction`` (LONG/SHORT) required;
        optional ``sessions_per_year`` (default: 365 if the listing trades on weekends, else
        252), ``value_traded`` (ADV in USD; unknown liquidity is neutral, and last for
        ``liquid_htr``), ``adx`` (neutral when absent), ``identity``, ``logic``, ``sector``
        (kept as given).
    engine : str
        A name from ``ENGINES``: ``htr_3_4`` (champion), ``cars_2_1``, ``liquid_htr``,
        ``baseline``.
    **params
        Fields of `SelectionParams` (``top_n``, ``min_pool``, thresholds, weights, ...).

    Returns
    -------
    DataFrame
        RangeIndex, one row per candidate in input order: the candidates' columns, then
        ``SELECTION_COLUMNS``: ``engine``; ``selected`` (bool); ``stage`` (the relaxation stage
        that recruited it, 0 when not selected); ``ladder_stage`` (where the engine stopped);
        ``cluster`` (-1 without one); ``score`` (the engine's ranking score); ``rank`` (within
        its direction, 1 best); ``reason``; ``vetoes`` (list of codes at the strict
        thresholds); ``hard_veto``; ``veto_detail`` (values against thresholds); every feature
        and every ``p_<metric>``. A symbol without returns is rejected with reason
        ``missing data: no returns``.

    Raises
    ------
    ConfigError
        Unknown engine, unknown parameter or a value out of range.
    DataError
        ``symbol`` or ``direction`` missing, a direction other than LONG/SHORT, or a
        candidate column that clashes with an output column.
    """
    settings = SelectionParams.from_kwargs(params)
    selector = make_selector(engine, settings)
    clash = sorted(set(SELECTION_COLUMNS).intersection(candidates.columns) - {"adx"})
    if clash:
        raise DataError(f"selection candidates: columns {clash} clash with selection output")
    candidates = candidates.reset_index(drop=True)
    features = build_features(returns, candidates, settings.features())
    frame = features.join(metric_probabilities(features))
    frame["cluster"] = assign_clusters(returns, features, settings)
    decisions = selector.fit(frame).decisions_
    vetoes = veto_table(features, settings.thresholds())
    added = pd.DataFrame(
        {
            "engine": pd.array([engine] * len(frame), dtype="str"),
            "selected": decisions["selected"],
            "stage": decisions["stage"],
            "ladder_stage": np.full(len(frame), selector.stage_, dtype=np.int64),
            "cluster": frame["cluster"],
            "score": decisions["score"],
            "rank": _rank(decisions["score"], features),
            "reason": decisions["reason"],
            **{column: vetoes[column] for column in ("vetoes", "hard_veto", "veto_detail")},
            **{column: frame[column] for column in (*FEATURE_COLUMNS, *PROBABILITY_COLUMNS)},
        },
        index=candidates.index,
    )
    if "adx" in candidates:
        added = added.drop(columns=["adx"])
    return pd.concat([candidates, added], axis=1)
