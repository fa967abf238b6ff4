"""One day's book: the atom weights an engine decides and the physical net weights they make."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvs_pipeline.allocation.params import AllocationParams
from tvs_pipeline.allocation.solver import atom_betas
from tvs_pipeline.allocation.weights import (
    allocate,
    check_exposure,
    flatten_weights,
    target_exposure,
)
from tvs_pipeline.selection.clustering import cluster_listings
from tvs_pipeline.simulation.friction import FrictionModel
from tvs_pipeline.synthesis.atoms import atom_id, atom_matrix, composition

__all__ = ["BOOK_COLUMNS", "EXPOSURE_COLUMNS", "atom_clusters", "atom_scores", "target_weights"]

BOOK_COLUMNS = ("kind", "atom_id", "symbol", "weight", "net_weight")
# The book's exposures, one value per day on every row (docs/methodology.md, section 10):
# long = Σ positive physical net weights, short = Σ |negative| ones, gross = long + short,
# net = long − short; beta = Σ_atoms w·β to the universe index over the estimation window.
EXPOSURE_COLUMNS = ("long_exposure", "short_exposure", "gross_exposure", "net_exposure", "beta")


def atom_clusters(window: pd.DataFrame, config: AllocationParams) -> pd.Series:
    """Ward clusters of the atoms' return streams over the estimation window.

    The selection's clustering (`cluster_listings`, correlation distance over several
    lookbacks) on the atoms' streams: a synthetic short and its long twin land apart, two
    listings that move together land in one bucket.
    """
    if window.shape[1] < 2:
        return pd.Series(1, index=window.columns, dtype="int64", name="cluster")
    c = config.clustering
    return cluster_listings(
        window,
        threshold=c.threshold,
        max_clusters=c.max_clusters,
        lookbacks=c.lookbacks,
        shrinkage=c.shrinkage,
    )


def atom_scores(decisions: pd.DataFrame | None) -> pd.Series | None:
    """The selection score of each selected candidate, by its atom id."""
    if decisions is None or decisions.empty:
        return None
    chosen = decisions.loc[decisions["selected"].astype(bool)]
    ids = [atom_id(*row) for row in chosen[["symbol", "logic", "direction"]].itertuples(False)]
    return pd.Series(chosen["score"].to_numpy(dtype="float64"), index=ids).groupby(level=0).max()


def target_weights(
    atoms: pd.DataFrame,
    config: AllocationParams,
    decisions: pd.DataFrame | None = None,
    market: pd.DataFrame | None = None,
    *,
    holdings: pd.Series | None = None,
    friction: FrictionModel | None = None,
) -> pd.DataFrame:
    """Atom weights and physical net weights of one day, decided at its close.

    Parameters
    ----------
    atoms : DataFrame
        The ``synthesis`` rows of day D (`build_atoms`: ``ATOM_COLUMNS``, one row per atom and
        market date).
    config : AllocationParams
        The profile's allocation block.
    decisions : DataFrame, optional
        The role's ``selection`` rows of day D (scores for the barbell).
    market : DataFrame, optional
        The ``market`` rows of day D (`market_day`): the regime and the universe index.
    holdings, friction : optional
        The atoms held now and the friction that prices trading away from them (`allocate`).

    Returns
    -------
    DataFrame
        RangeIndex. ``kind == "atom"`` rows: `allocate`'s columns joined with each atom's
        composition; ``kind == "physical"`` rows: `flatten_weights`'s per-symbol net weights;
        ``EXPOSURE_COLUMNS`` on every row. ``BOOK_COLUMNS`` only, and no rows, when the day
        has no atom.

    Raises
    ------
    DataError
        The physical book's net exposure differs from the atoms' (`check_exposure`).
    """
    if atoms.empty:
        return pd.DataFrame(columns=[*BOOK_COLUMNS, *EXPOSURE_COLUMNS])
    matrix = atom_matrix(atoms)
    window = matrix.iloc[-config.estimation_days :]
    regime, index = "NORMAL", None
    if market is not None and len(market):
        regime = str(market["regime"].iloc[-1])
        index = pd.Series(
            market["index_return"].to_numpy(dtype="float64"),
            index=pd.DatetimeIndex(market["market_date"]),
        )
    weights = allocate(
        matrix,
        config,
        clusters=atom_clusters(window.dropna(axis=1, how="all"), config),
        regime=regime,
        scores=atom_scores(decisions),
        benchmark=index,
        holdings=holdings,
        friction=friction,
    )
    comp = composition(atoms)
    atom_rows = weights.merge(comp, on="atom_id", how="left")
    physical = flatten_weights(weights[["atom_id", "weight"]], comp)
    check_exposure(physical, target_exposure(weights[["atom_id", "weight"]], comp))
    book = pd.concat(
        [atom_rows.assign(kind="atom"), physical.assign(kind="physical")], ignore_index=True
    )
    return book.assign(**book_exposures(physical, weights, window, index))


def book_exposures(
    physical: pd.DataFrame,
    weights: pd.DataFrame,
    window: pd.DataFrame,
    index: pd.Series | None,
) -> dict[str, float]:
    """``EXPOSURE_COLUMNS`` of one book (``beta`` NaN without an index to measure it)."""
    net = physical["net_weight"].to_numpy(dtype="float64")
    long, short = float(net[net > 0].sum()), float(-net[net < 0].sum())
    beta = float("nan")
    held = weights.loc[weights["weight"] > 0]
    if index is not None and len(held):
        sample = window[held["atom_id"]].dropna(how="any")
        bench = index.reindex(sample.index)
        keep = bench.notna().to_numpy()
        if keep.sum() >= 10 and float(bench[keep].std()) > 0:
            betas = atom_betas(sample.loc[keep], bench[keep])
            beta = float(betas.to_numpy() @ held["weight"].to_numpy(dtype="float64"))
    return {
        "long_exposure": long,
        "short_exposure": short,
        "gross_exposure": long + short,
        "net_exposure": long - short,
        "beta": beta if np.isfinite(beta) else float("nan"),
    }
