"""Selection: a robust, diversified subset of the canonical universe; every candidate decided."""

from __future__ import annotations

import pandas as pd

from tvs_pipeline.selection.clustering import ClusteringParams, assign_clusters
from tvs_pipeline.selection.efficiency import efficiency_ratio
from tvs_pipeline.selection.engines import ENGINES, SelectionEngine, make_engine
from tvs_pipeline.selection.entropy import permutation_entropy
from tvs_pipeline.selection.features import FEATURE_COLUMNS, FeatureParams, build_features
from tvs_pipeline.selection.hurst import hurst_exponent
from tvs_pipeline.selection.params import SelectionParams, V4Options
from tvs_pipeline.selection.parity import (
    PARITY_COLUMNS,
    ParityThresholds,
    compare_decisions,
    parity_verdict,
)
from tvs_pipeline.selection.scoring import CarsWeights, ConvictionWeights
from tvs_pipeline.selection.summary import funnel_counts, winners_table
from tvs_pipeline.selection.table import PROBABILITY_COLUMNS, SELECTION_COLUMNS
from tvs_pipeline.selection.vetoes import VETO_CODES, VetoThresholds

__all__ = [
    "ENGINES",
    "FEATURE_COLUMNS",
    "PARITY_COLUMNS",
    "PROBABILITY_COLUMNS",
    "SELECTION_COLUMNS",
    "VETO_CODES",
    "CarsWeights",
    "ClusteringParams",
    "ConvictionWeights",
    "FeatureParams",
    "ParityThresholds",
    "SelectionEngine",
    "SelectionParams",
    "V4Options",
    "VetoThresholds",
    "assign_clusters",
    "build_features",
    "compare_decisions",
    "efficiency_ratio",
    "funnel_counts",
    "hurst_exponent",
    "make_engine",
    "parity_verdict",
    "permutation_entropy",
    "select",
    "winners_table",
]


def select(
    returns: pd.DataFrame,
    candidates: pd.DataFrame,
    engine: str,
    params: SelectionParams | None = None,
) -> pd.DataFrame:
    """Run a selection engine over one day's candidates; every candidate keeps its decision.

    Every engine reads one feature frame (`build_features`); metric probabilities, clusters and
    vetoes all read it, then the engine decides (`make_engine(engine, params).decide`).

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
        ``baseline``, ``v4`` (the staged pipeline, `tvs_pipeline.selection.v4`: with its
        default options it decides exactly as ``htr_3_4``).
    params : SelectionParams, optional
        Every parameter, nested (``top_n``, ``vetoes``, ``clustering``, ``weights``, ...;
        ``v4`` reads its own ``params.v4``); the defaults when omitted.

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
        Unknown engine.
    DataError
        ``symbol`` or ``direction`` missing, a direction other than LONG/SHORT, or a
        candidate column that clashes with an output column.
    """
    return make_engine(engine, params).decide(returns, candidates)
