"""Hierarchical clusters of listings: correlation distance over several lookbacks, Ward linkage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.parameters import Parameters

__all__ = [
    "DEFAULT_LOOKBACKS",
    "DEFAULT_MAX_CLUSTERS",
    "DEFAULT_SHRINKAGE",
    "DEFAULT_THRESHOLD",
    "LINKAGE_METHODS",
    "MIN_OVERLAP",
    "ClusteringParams",
    "Linkage",
    "assign_clusters",
    "cluster_listings",
    "correlation_distance",
    "pairwise_correlation",
]

# The function defaults below and `ClusteringParams` read these: each value is written once.
DEFAULT_LOOKBACKS = (60, 120, 200)
DEFAULT_SHRINKAGE = 0.05
DEFAULT_THRESHOLD = 0.5
DEFAULT_MAX_CLUSTERS = 25
MIN_OVERLAP = 20  # fewer common returns than this: the pair is treated as uncorrelated
Linkage = Literal["ward", "average", "complete", "single"]
LINKAGE_METHODS: tuple[str, ...] = ("ward", "average", "complete", "single")


def pairwise_correlation(values: np.ndarray, min_overlap: int = MIN_OVERLAP) -> np.ndarray:
    """Pearson correlation of every pair of columns over the rows where both are finite.

    Five matrix products give the pairwise counts, sums and cross-products at once (no loop
    over pairs). A pair with fewer than ``min_overlap`` common rows, or a constant column over
    them, gets 0.

    Parameters
    ----------
    values : ndarray
        Shape ``(T, N)``, NaN where a column has no value.
    min_overlap : int, default 20
        Fewest common rows for an estimate.

    Returns
    -------
    ndarray
        Shape ``(N, N)``, symmetric, in [-1, 1], ones on the diagonal.
    """
    finite = np.isfinite(values)
    mask = finite.astype("float64")
    counts = mask.sum(axis=0)
    centre = np.where(finite, values, 0.0).sum(axis=0) / np.maximum(counts, 1)
    x = np.where(finite, values - centre, 0.0)
    n = mask.T @ mask
    sx = x.T @ mask  # sx[i, j]: sum of x_i over the rows where j is also present
    sxx = (x * x).T @ mask
    sxy = x.T @ x
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sxy - sx * sx.T / n
        var_i = sxx - sx**2 / n
        var_j = var_i.T
        rho = cov / np.sqrt(var_i * var_j)
    rho = np.where((n >= min_overlap) & (var_i > 0) & (var_j > 0), rho, 0.0)
    rho = np.clip(rho, -1.0, 1.0)
    np.fill_diagonal(rho, 1.0)
    return (rho + rho.T) / 2.0


def correlation_distance(
    returns: pd.DataFrame,
    lookbacks: Sequence[int] = DEFAULT_LOOKBACKS,
    shrinkage: float = DEFAULT_SHRINKAGE,
) -> np.ndarray:
    """Correlation distance ``sqrt(0.5 (1 - rho))`` averaged over several lookbacks.

    For each lookback ``L`` the correlations of the last ``L`` rows are shrunk toward the
    identity, ``rho' = (1 - shrinkage) rho`` off the diagonal, and turned into distances in
    [0, 1] (0 for rho = 1, 0.71 for rho = 0, 1 for rho = -1); the distance matrices are
    averaged. Lookbacks longer than the frame use the whole frame (duplicates dropped), so a
    short history still clusters.

    Parameters
    ----------
    returns : DataFrame
        Dates ascending x listings, NaN off-session.
    lookbacks : sequence of int, default (60, 120, 200)
        Rows of each correlation window.
    shrinkage : float, default 0.05
        Weight of the identity in [0, 1).

    Returns
    -------
    ndarray
        Shape ``(N, N)``, symmetric, zero diagonal, in columns' order.

    Raises
    ------
    ConfigError
        No lookback, a lookback below 2, or shrinkage outside [0, 1).
    """
    if not lookbacks or min(lookbacks) < 2:
        raise ConfigError(f"clustering: lookbacks {list(lookbacks)} must be >= 2 and not empty")
    if not 0.0 <= shrinkage < 1.0:
        raise ConfigError(f"clustering: shrinkage {shrinkage} is outside [0, 1)")
    values = returns.to_numpy(dtype="float64", na_value=np.nan)
    windows = sorted({min(int(lb), len(values)) for lb in lookbacks})
    total = np.zeros((values.shape[1], values.shape[1]))
    for window in windows:
        rho = pairwise_correlation(values[len(values) - window :]) * (1.0 - shrinkage)
        np.fill_diagonal(rho, 1.0)
        total += np.sqrt(np.clip(0.5 * (1.0 - rho), 0.0, 1.0))
    distance = total / max(len(windows), 1)
    distance = (distance + distance.T) / 2.0
    np.fill_diagonal(distance, 0.0)
    return distance


def cluster_listings(
    returns: pd.DataFrame,
    threshold: float = DEFAULT_THRESHOLD,
    max_clusters: int = DEFAULT_MAX_CLUSTERS,
    lookbacks: Sequence[int] = DEFAULT_LOOKBACKS,
    shrinkage: float = DEFAULT_SHRINKAGE,
    method: Linkage = "ward",
) -> pd.Series:
    """Ward clusters of the listings, cut at a distance threshold with a ceiling on their number.

    The averaged correlation distance (`correlation_distance`) is linked with Ward's method
    (SciPy), cut where the merge height exceeds ``threshold``; if that leaves more than
    ``max_clusters`` clusters the tree is cut into exactly ``max_clusters`` instead. Ward's
    method assumes Euclidean distances: ``sqrt(0.5 (1 - rho))`` is the Euclidean distance
    between standardised return vectors (scaled), and averaging over lookbacks keeps it close.
    Two listings merge below ``threshold = 0.5`` when their correlation exceeds about 0.5.

    Parameters
    ----------
    returns : DataFrame
        Dates ascending x listings (the columns to cluster, in a fixed order).
    threshold : float, default 0.5
        Ward merge height at which the tree is cut.
    max_clusters : int, default 25
        Ceiling on the number of clusters (never a floor).
    lookbacks, shrinkage
        See `correlation_distance`.
    method : {"ward", "average", "complete", "single"}, default "ward"
        SciPy linkage method. Ward is the shipped one; the others are options of the v4
        challenger (``average`` cuts at the mean pairwise distance between two clusters).

    Returns
    -------
    Series
        Index the columns of ``returns``; cluster ids 1, 2, ... numbered in column order of
        first appearance (so the same input always gives the same ids).

    Raises
    ------
    ConfigError
        ``threshold`` not positive, ``max_clusters`` below 1 or an unknown ``method`` (and see
        `correlation_distance`).
    """
    if method not in LINKAGE_METHODS:
        raise ConfigError(
            f"clustering: linkage {method!r} unknown (known: {', '.join(LINKAGE_METHODS)})"
        )
    if not threshold > 0:
        raise ConfigError(f"clustering: threshold {threshold} must be positive")
    if max_clusters < 1:
        raise ConfigError(f"clustering: max_clusters {max_clusters} must be at least 1")
    columns = pd.Index(returns.columns)
    if len(columns) < 2:
        return pd.Series(np.ones(len(columns), dtype=np.int64), index=columns, name="cluster")
    from scipy.cluster.hierarchy import fcluster, linkage  # heavy: only when clustering runs
    from scipy.spatial.distance import squareform

    distance = correlation_distance(returns, lookbacks, shrinkage)
    tree = linkage(squareform(distance, checks=False), method=method)
    labels = fcluster(tree, t=threshold, criterion="distance")
    if len(np.unique(labels)) > max_clusters:
        labels = fcluster(tree, t=max_clusters, criterion="maxclust")
    _, first = np.unique(labels, return_index=True)
    renumber = {labels[i]: k + 1 for k, i in enumerate(sorted(first))}
    ids = np.array([renumber[label] for label in labels], dtype=np.int64)
    return pd.Series(ids, index=columns, name="cluster")


class ClusteringParams(Parameters):
    """How the day's listings are clustered (docs/methodology.md, section 8).

    Attributes
    ----------
    lookbacks : tuple of int
        Rows of each correlation window, averaged (60, 120, 200).
    shrinkage : float
        Correlations shrink toward 0 by this share (0.05).
    threshold : float
        Ward cut height; two listings merge below it when rho exceeds about 0.5 (0.5).
    max_clusters : int
        Ceiling on the number of clusters (25).
    """

    lookbacks: tuple[int, ...] = Field(DEFAULT_LOOKBACKS, min_length=1)
    shrinkage: float = Field(DEFAULT_SHRINKAGE, ge=0, lt=1)
    threshold: float = Field(DEFAULT_THRESHOLD, gt=0, le=10)
    max_clusters: int = Field(DEFAULT_MAX_CLUSTERS, ge=1, le=1000)

    @field_validator("lookbacks", mode="before")
    @classmethod
    def _lookbacks(cls, value: object) -> object:
        # YAML gives a list; the value is kept as a tuple so the parameters stay hashable.
        value = tuple(value) if isinstance(value, list) else value
        if isinstance(value, tuple) and any(
            isinstance(x, int) and not isinstance(x, bool) and x < 2 for x in value
        ):
            raise ValueError(f"lookbacks must all be >= 2, got {list(value)}")
        return value


def assign_clusters(
    returns: pd.DataFrame,
    features: pd.DataFrame,
    params: ClusteringParams,
    min_obs: int,
    method: Linkage = "ward",
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
    params : ClusteringParams
        Lookbacks, shrinkage, cut and ceiling.
    min_obs : int
        Fewest own returns a listing needs to be clustered (the ``missing_data`` veto's).
    method : {"ward", "average", "complete", "single"}, default "ward"
        Linkage method (see `cluster_listings`).

    Returns
    -------
    Series
        Index of ``features``, int64 cluster ids (1, 2, ...) or -1.
    """
    enough = features["n_obs"] >= min_obs
    symbols = sorted(set(features.loc[enough, "symbol"]))
    clusters = cluster_listings(
        returns.sort_index()[symbols],
        threshold=params.threshold,
        max_clusters=params.max_clusters,
        lookbacks=params.lookbacks,
        shrinkage=params.shrinkage,
        method=method,
    )
    ids = features["symbol"].map(clusters).where(enough)
    return ids.fillna(-1).astype("int64")
