"""Atom weights from the configured engine with recorded fallbacks, flattened to symbols."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from tvs_pipeline.allocation.params import AllocationParams
from tvs_pipeline.allocation.solver import Allocation, solve_allocation
from tvs_pipeline.errors import DataError, OptimizationError
from tvs_pipeline.synthesis.atoms import check_atom_matrix

if TYPE_CHECKING:
    from tvs_pipeline.simulation.friction import FrictionModel

__all__ = [
    "ALLOCATION_COLUMNS",
    "PHYSICAL_COLUMNS",
    "allocate",
    "check_exposure",
    "flatten_weights",
    "target_exposure",
]

ALLOCATION_COLUMNS: tuple[str, ...] = (
    "atom_id",
    "weight",
    "engine",
    "engine_used",
    "profile",
    "fallback_reason",
    "excluded_reason",
    "n_obs",
    "max_weight",
    "cap_relaxed",
    "cluster",
    "cluster_cap",
    "cluster_cap_relaxed",
    "regime",
    "projected",
    "beta",
    "beta_tolerance",
    "profile_choice",
)
PHYSICAL_COLUMNS: tuple[str, ...] = ("symbol", "net_weight", "gross_weight", "n_atoms")
# Fewest atoms the eligibility rule tries to keep, and fewest common rows an estimate may use.
MIN_ATOMS = 2
MIN_ESTIMATION_ROWS = 2


def allocate(
    returns: pd.DataFrame,
    config: AllocationParams,
    *,
    clusters: pd.Series | None = None,
    regime: str = "NORMAL",
    scores: pd.Series | None = None,
    benchmark: pd.Series | None = None,
    holdings: pd.Series | None = None,
    friction: FrictionModel | None = None,
) -> pd.DataFrame:
    """Weight the atoms with the configured engine and profile, falling back in order.

    The window is the last ``config.estimation_days`` rows (all rows when fewer exist).
    Eligible atoms are those fully observed in the window. When fewer than two atoms are
    fully observed, the rule keeps the two best-observed atoms (every atom tied with the
    second best included) and estimates on the rows where all of them are observed; with a
    single observed atom, that atom takes the whole book. Every other atom gets weight 0 and
    says why in ``excluded_reason``. The engines ``[config.engine, *config.fallback]`` are
    tried in order (a repeated name once); the first that solves wins, and the failures
    before it are written to ``fallback_reason``. With ``feat_market_neutral`` on and every
    engine failing under the beta band, the engines are tried again without it, and the
    reason says so.

    Parameters
    ----------
    returns : pandas.DataFrame
        Index: naive market dates (sorted, unique); columns: atom ids (str); daily simple
        returns, NaN where an atom has no data.
    config : AllocationParams
        Engine, profile and its options, fallback list, window, caps, risk controls.
    clusters : Series, optional
        Atom -> cluster id: each cluster's total weight is capped by
        ``config.cluster_caps.for_regime(regime)``.
    regime : str
        The market regime of the day (QUIET, NORMAL, TURBULENT, CRISIS); with
        ``profile: auto`` it also chooses the profile (``config.regime_profiles``).
    scores : Series, optional
        Atom -> selection score (the barbell's aggressive sleeve).
    benchmark : Series, optional
        Daily returns of the universe index (market-neutral, when on), indexed like
        ``returns``.
    holdings : Series, optional
        Atom -> the weight held now (the previous book drifted to today); an atom absent
        from the eligible set is sold whatever the solve.
    friction : FrictionModel, optional
        With ``holdings``, each unit of turnover away from them costs ``friction.rate`` in
        the objective of the engines that can say so (`tvs_pipeline.allocation.optimize`).

    Returns
    -------
    pandas.DataFrame
        RangeIndex, one row per atom in the column order of ``returns``: ``ALLOCATION_COLUMNS``
        (``weight`` long-only summing to 1; ``engine`` requested, ``engine_used``; ``profile``;
        ``fallback_reason``; ``excluded_reason``; ``n_obs``; ``max_weight`` and
        ``cap_relaxed``; ``cluster`` (-1 without), ``cluster_cap`` (NaN without) and
        ``cluster_cap_relaxed``; ``regime``; ``projected`` (constraints the engine broke and
        the projection restored); ``beta`` and ``beta_tolerance`` (NaN unless market-neutral);
        ``profile_choice``: ``auto: <REGIME>`` when the regime chose ``profile``, else empty).

    Raises
    ------
    DataError
        If ``returns`` is malformed, no atom is observed in the window, or the eligible atoms
        share fewer than two observed rows.
    ConfigError
        If an engine or profile is unknown, or the engine does not offer the profile.
    OptimizationError
        If every engine fails; the message lists each failure.
    """
    check_atom_matrix(returns, "allocate")
    chosen = "" if config.profile != "auto" else f"auto: {regime}"
    config = config.for_regime(regime)
    window = returns.iloc[-config.estimation_days :]
    n_obs = window.notna().sum(axis=0).astype(int)
    eligible = _eligible_atoms(n_obs, len(window))
    sample = window.loc[:, eligible].dropna(how="any")
    if len(sample) < MIN_ESTIMATION_ROWS:
        raise DataError(
            f"allocate: eligible atoms {list(map(str, eligible))} share {len(sample)} observed "
            f"rows in the last {len(window)}, expected at least {MIN_ESTIMATION_ROWS}"
        )
    neutral = (
        benchmark.reindex(sample.index)
        if config.feat_market_neutral and benchmark is not None
        else None
    )
    trading = _Trading(
        holdings.reindex(sample.columns).fillna(0.0) if holdings is not None else None,
        float(friction.rate) if friction is not None and holdings is not None else 0.0,
    )
    fitted, failures = _first_solved(sample, config, clusters, regime, scores, neutral, trading)
    if fitted is None and neutral is not None:
        failures.append("market-neutral infeasible for every engine: solved without the beta band")
        fitted, more = _first_solved(sample, config, clusters, regime, scores, None, trading)
        failures += more
    if fitted is None:
        raise OptimizationError(
            f"allocate {config.profile}: every engine failed ({'; '.join(failures)})"
        )
    frame = _allocation_frame(returns, window, n_obs, fitted, config, clusters, regime, failures)
    return frame.assign(profile_choice=chosen).loc[:, list(ALLOCATION_COLUMNS)]


class _Trading(NamedTuple):
    """The current holdings over the eligible atoms and the cost of a unit of turnover."""

    holdings: pd.Series | None
    cost_per_turnover: float


def _first_solved(
    sample: pd.DataFrame,
    config: AllocationParams,
    clusters: pd.Series | None,
    regime: str,
    scores: pd.Series | None,
    benchmark: pd.Series | None,
    trading: _Trading,
) -> tuple[Allocation | None, list[str]]:
    """The first engine of ``[engine, *fallback]`` that solves, and the failures before it."""
    failures: list[str] = []
    profile = config.profile_value()
    cap = config.cluster_caps.for_regime(regime) if clusters is not None else None
    for engine in dict.fromkeys([config.engine, *config.fallback]):
        try:
            fitted = solve_allocation(
                sample,
                engine,
                profile,
                max_weight=config.max_weight,
                clusters=clusters.reindex(sample.columns) if clusters is not None else None,
                cluster_cap=cap,
                scores=scores,
                benchmark=benchmark,
                holdings=trading.holdings,
                cost_per_turnover=trading.cost_per_turnover,
            )
        except OptimizationError as err:
            failures.append(f"{engine}: " + " ".join(str(err).split()))
            continue
        return fitted, failures
    return None, failures


def _allocation_frame(
    returns: pd.DataFrame,
    window: pd.DataFrame,
    n_obs: pd.Series,
    fitted: Allocation,
    config: AllocationParams,
    clusters: pd.Series | None,
    regime: str,
    failures: list[str],
) -> pd.DataFrame:
    """One row per atom of ``returns``: its weight and the record of the solve."""
    weights = fitted.weights.reindex(returns.columns, fill_value=0.0)
    rows = len(window)
    excluded = [
        ""
        if atom in fitted.weights.index
        else (
            f"no observation in the last {rows} rows"
            if n_obs[atom] == 0
            else f"{n_obs[atom]} of {rows} rows observed in the estimation window, expected all"
        )
        for atom in returns.columns
    ]
    n = len(returns.columns)
    cluster_ids = (
        clusters.reindex(returns.columns).fillna(-1).astype("int64").to_numpy()
        if clusters is not None
        else np.full(n, -1, dtype=np.int64)
    )
    return pd.DataFrame(
        {
            "atom_id": [str(atom) for atom in returns.columns],
            "weight": weights.to_numpy(dtype=float),
            "engine": [config.engine] * n,
            "engine_used": [fitted.engine] * n,
            "profile": [config.profile] * n,
            "fallback_reason": ["; ".join(failures)] * n,
            "excluded_reason": excluded,
            "n_obs": n_obs.to_numpy(dtype=np.int64),
            "max_weight": np.full(n, fitted.max_weight, dtype=float),
            "cap_relaxed": np.full(n, fitted.cap_relaxed, dtype=bool),
            "cluster": cluster_ids,
            "cluster_cap": np.full(n, np.nan if fitted.cluster_cap is None else fitted.cluster_cap),
            "cluster_cap_relaxed": np.full(n, fitted.cluster_cap_relaxed, dtype=bool),
            "regime": [regime] * n,
            "projected": [fitted.projected] * n,
            "beta": np.full(n, np.nan if fitted.beta is None else fitted.beta),
            "beta_tolerance": np.full(
                n, np.nan if fitted.beta_tolerance is None else fitted.beta_tolerance
            ),
        }
    )


def flatten_weights(atom_weights: pd.DataFrame, composition: pd.DataFrame) -> pd.DataFrame:
    """Net atom weights onto the physical symbols they trade.

    A long atom holds ``+weight`` of its symbol, a short atom ``-weight``; a long and a short
    atom of equal weight on one symbol net to zero while both count in the gross.

    Parameters
    ----------
    atom_weights : pandas.DataFrame
        Any index; columns ``atom_id`` (unique) and ``weight`` (others ignored), e.g. the
        output of :func:`allocate`.
    composition : pandas.DataFrame
        Any index; columns ``atom_id`` (unique), ``symbol`` and ``sign`` (+1 long atom,
        -1 short atom). Atoms absent from ``atom_weights`` are ignored.

    Returns
    -------
    pandas.DataFrame
        RangeIndex, one row per symbol of a weighted atom, sorted by symbol. Columns:
        ``symbol``, ``net_weight`` (Σ sign·weight), ``gross_weight`` (Σ |weight|) and
        ``n_atoms`` (int, atoms with a non-zero weight on the symbol).

    Raises
    ------
    DataError
        If a column is missing, an atom id repeats, a sign is not ±1, a weight is not
        finite, or a weighted atom has no composition row.
    """
    joined = _join_composition(atom_weights, composition)
    joined = joined.assign(
        net=joined["sign"] * joined["weight"],
        gross=joined["weight"].abs(),
        held=(joined["weight"] != 0.0).astype(np.int64),
    )
    physical = joined.groupby("symbol", sort=True).agg(
        net_weight=("net", "sum"), gross_weight=("gross", "sum"), n_atoms=("held", "sum")
    )
    return physical.reset_index().loc[:, list(PHYSICAL_COLUMNS)]


def target_exposure(atom_weights: pd.DataFrame, composition: pd.DataFrame) -> float:
    """Net exposure the atom book targets: Σ sign·weight over atoms.

    Parameters
    ----------
    atom_weights : pandas.DataFrame
        Columns ``atom_id`` and ``weight`` (see :func:`flatten_weights`).
    composition : pandas.DataFrame
        Columns ``atom_id``, ``symbol`` and ``sign``.

    Returns
    -------
    float
        The target the physical net weights must sum to.

    Raises
    ------
    DataError
        As :func:`flatten_weights`.
    """
    joined = _join_composition(atom_weights, composition)
    return float((joined["sign"] * joined["weight"]).sum())


def check_exposure(physical: pd.DataFrame, target_net: float, atol: float = 1e-9) -> float:
    """Guard that the physical net weights sum to the atom book's net exposure.

    Parameters
    ----------
    physical : pandas.DataFrame
        Any index; column ``net_weight`` (the output of :func:`flatten_weights`).
    target_net : float
        Σ sign·weight over the atoms (:func:`target_exposure`).
    atol : float
        Largest tolerated absolute difference.

    Returns
    -------
    float
        Σ ``net_weight``, for the caller's metadata.

    Raises
    ------
    DataError
        If ``net_weight`` is missing or not finite, or ``|Σ net − target_net| > atol``.
    """
    if "net_weight" not in physical.columns:
        raise DataError(
            f"check_exposure: column 'net_weight' missing, got {list(physical.columns)}"
        )
    net = float(physical["net_weight"].sum(skipna=False))
    if not np.isfinite(net) or not np.isfinite(target_net) or abs(net - target_net) > atol:
        raise DataError(
            f"check_exposure: Σ net weight {net:.12g} differs from target {target_net:.12g} "
            f"by more than {atol:g}"
        )
    return net


def _eligible_atoms(n_obs: pd.Series, rows: int) -> pd.Index:
    """Fully observed atoms, or the best-observed two (ties kept) when fewer than two are."""
    observed = n_obs[n_obs > 0]
    if observed.empty:
        raise DataError(f"allocate: no atom has an observation in the last {rows} rows")
    full = observed[observed == rows]
    if len(full) >= MIN_ATOMS or len(full) == len(observed):
        return full.index
    keep = min(MIN_ATOMS, len(observed))
    threshold = np.sort(observed.to_numpy())[::-1][keep - 1]
    return observed.index[observed.to_numpy() >= threshold]


def _join_composition(atom_weights: pd.DataFrame, composition: pd.DataFrame) -> pd.DataFrame:
    """Atom rows with their symbol and sign; columns ``atom_id, weight, symbol, sign``."""
    _require(atom_weights, ("atom_id", "weight"), "atom_weights")
    _require(composition, ("atom_id", "symbol", "sign"), "composition")
    for name, frame in (("atom_weights", atom_weights), ("composition", composition)):
        dupes = frame["atom_id"][frame["atom_id"].duplicated()]
        if not dupes.empty:
            raise DataError(f"{name}: duplicate atom_id {sorted(map(str, dupes.unique()))}")
    weight = pd.to_numeric(atom_weights["weight"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(weight).all():
        bad = atom_weights["atom_id"][~np.isfinite(weight)]
        raise DataError(f"atom_weights: non-finite weight for atoms {sorted(map(str, bad))}")
    sign = pd.to_numeric(composition["sign"], errors="coerce")
    if not sign.isin([1, -1]).all():
        bad = composition["atom_id"][~sign.isin([1, -1])]
        raise DataError(
            f"composition: sign must be +1 or -1, not for atoms {sorted(map(str, bad))}"
        )
    missing = ~atom_weights["atom_id"].isin(composition["atom_id"])
    if missing.any():
        bad = sorted(map(str, atom_weights["atom_id"][missing]))
        raise DataError(f"composition: no row for weighted atoms {bad}")
    left = pd.DataFrame({"atom_id": atom_weights["atom_id"].to_numpy(), "weight": weight})
    right = pd.DataFrame(
        {
            "atom_id": composition["atom_id"].to_numpy(),
            "symbol": composition["symbol"].to_numpy(),
            "sign": sign.to_numpy(dtype=float),
        }
    )
    return left.merge(right, on="atom_id", how="left", validate="one_to_one")


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{name}: missing columns {missing}, got {list(frame.columns)}")
