"""One window's atom weights from one engine and profile, every constraint checked.

`optimize` is the stable entry point later layers call; `solve_allocation` returns the same
weights with the record of what was relaxed or projected, which the allocation asset stores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tvs_pipeline.allocation.engines import Engine, check_pair, make_engine
from tvs_pipeline.allocation.problem import (
    AllocationProblem,
    check_constraints,
    feasible_cap,
    project_onto_constraints,
)
from tvs_pipeline.allocation.profiles import Barbell, Profile, make_profile
from tvs_pipeline.errors import ConfigError, DataError

__all__ = [
    "BETA_TOLERANCE_LOOSE",
    "BETA_TOLERANCE_TIGHT",
    "Allocation",
    "atom_betas",
    "beta_tolerance",
    "optimize",
    "solve_allocation",
]

# The market-neutral band tightens with the number of atoms: ±0.15 up to 5 atoms (few atoms
# cannot hedge finely), ±0.05 from 25, linear between (docs/methodology.md, section 10).
BETA_TOLERANCE_LOOSE, BETA_TOLERANCE_TIGHT = 0.15, 0.05
BETA_ATOMS_LOOSE, BETA_ATOMS_TIGHT = 5, 25
MIN_BETA_ROWS = 10


@dataclass(frozen=True)
class Allocation:
    """Weights of one window and what it took to get them.

    Attributes
    ----------
    weights : Series
        Atom -> weight, long-only, summing to 1, in the column order of the returns.
    engine : str
        The engine that solved.
    profile : str
        The profile solved.
    max_weight, cluster_cap : float or None
        The caps applied (after relaxation).
    cap_relaxed, cluster_cap_relaxed : bool
        True when a configured cap was infeasible and raised to ``1/n`` (``1/k``).
    projected : str
        The constraints the engine's weights broke and the projection restored ('' if none).
    beta : float or None
        The book's beta to the benchmark, when one was given.
    beta_tolerance : float or None
        The market-neutral band applied.
    """

    weights: pd.Series
    engine: str
    profile: str
    max_weight: float
    cluster_cap: float | None = None
    cap_relaxed: bool = False
    cluster_cap_relaxed: bool = False
    projected: str = ""
    beta: float | None = None
    beta_tolerance: float | None = None


def beta_tolerance(n_atoms: int) -> float:
    """The market-neutral band for ``n_atoms``: 0.15 up to 5 atoms, 0.05 from 25, linear."""
    span = (n_atoms - BETA_ATOMS_LOOSE) / (BETA_ATOMS_TIGHT - BETA_ATOMS_LOOSE)
    share = min(max(span, 0.0), 1.0)
    return BETA_TOLERANCE_LOOSE + share * (BETA_TOLERANCE_TIGHT - BETA_TOLERANCE_LOOSE)


def atom_betas(returns: pd.DataFrame, benchmark: pd.Series) -> pd.Series:
    """Each atom's OLS beta ``cov(r_i, b) / var(b)`` to the benchmark over the window.

    Only the dates both hold count: a crypto book's weekend rows have no equity-calendar
    index return, and are left out rather than filled.

    Raises
    ------
    DataError
        Fewer than ``MIN_BETA_ROWS`` common dates, or a flat benchmark.
    """
    aligned = benchmark.reindex(returns.index)
    common = aligned.notna().to_numpy()
    if common.sum() < MIN_BETA_ROWS:
        raise DataError(
            f"market-neutral: the benchmark shares {int(common.sum())} of {len(returns)} window "
            f"dates, expected at least {MIN_BETA_ROWS}"
        )
    b = aligned.to_numpy(dtype="float64")[common]
    b = b - b.mean()
    var = float(b @ b)
    if var <= 0:
        raise DataError("market-neutral: the benchmark is flat over the window")
    x = returns.to_numpy(dtype="float64")[common]
    x = x - x.mean(axis=0)
    return pd.Series(x.T @ b / var, index=returns.columns, name="beta")


def solve_allocation(
    returns: pd.DataFrame,
    engine: str | Engine,
    profile: str | Profile,
    *,
    max_weight: float | None = None,
    clusters: pd.Series | None = None,
    cluster_cap: float | None = None,
    scores: pd.Series | None = None,
    benchmark: pd.Series | None = None,
    holdings: pd.Series | None = None,
    cost_per_turnover: float = 0.0,
) -> Allocation:
    """Weights and their record; see `optimize` for the arguments.

    Raises
    ------
    ConfigError
        Unknown engine or profile, a pair the engine does not offer, a missing optional
        library, or a barbell without scores.
    DataError
        Malformed returns or a constraint series missing an atom.
    OptimizationError
        The engine failed or the constraints are infeasible (named).
    """
    eng = make_engine(engine) if isinstance(engine, str) else engine
    prof = make_profile(profile) if isinstance(profile, str) else profile
    check_pair(eng, prof.name)
    if isinstance(prof, Barbell):
        check_pair(eng, prof.core)  # a core the engine lacks is refused, never substituted
    n = returns.shape[1]
    cap_given = 1.0 if max_weight is None else float(max_weight)
    if not 0.0 < cap_given <= 1.0:
        raise ConfigError(f"allocation max_weight {cap_given!r}: expected a value in (0, 1]")
    cap = feasible_cap(cap_given, n)
    cc = None
    if cluster_cap is not None and clusters is not None:
        cc = feasible_cap(float(cluster_cap), int(clusters.reindex(returns.columns).nunique()))
    betas = atom_betas(returns, benchmark) if benchmark is not None else None
    tolerance = beta_tolerance(n) if betas is not None else None
    problem = AllocationProblem.build(
        returns,
        prof,
        max_weight=cap,
        clusters=clusters if cc is not None else None,
        cluster_cap=cc,
        betas=betas,
        beta_tolerance=tolerance,
        holdings=holdings,
        cost_per_turnover=cost_per_turnover,
    )
    if cap * n <= 1.0 + 1e-12:
        # The cap admits one point only: equal weight, whatever the profile.
        raw = np.full(n, 1.0 / n)
    elif isinstance(prof, Barbell):
        raw = _barbell(problem, eng, prof, scores)
    else:
        raw = eng.solve(problem)
    broken = check_constraints(raw, problem)
    weights = project_onto_constraints(raw, problem) if broken else np.asarray(raw, dtype=float)
    series = pd.Series(weights, index=returns.columns, name="weight")
    return Allocation(
        weights=series,
        engine=eng.name,
        profile=prof.name,
        max_weight=cap,
        cluster_cap=cc,
        cap_relaxed=cap > cap_given,
        cluster_cap_relaxed=cc is not None and cc > float(cluster_cap),
        projected="; ".join(broken),
        beta=float(betas @ series) if betas is not None else None,
        beta_tolerance=tolerance,
    )


def optimize(
    returns: pd.DataFrame,
    engine: str,
    profile: str,
    *,
    max_weight: float | None = None,
    clusters: pd.Series | None = None,
    cluster_cap: float | None = None,
    scores: pd.Series | None = None,
    benchmark: pd.Series | None = None,
    holdings: pd.Series | None = None,
    friction=None,
) -> pd.Series:
    """Long-only weights of the atoms for one engine and profile.

    Parameters
    ----------
    returns : DataFrame
        Dates x atoms, daily simple returns of the estimation window, no NaN.
    engine : str
        ``custom``, ``skfolio``, ``riskfolio``, ``pyportfolioopt`` or ``cvxportfolio``.
    profile : str
        ``equal_weight``, ``inverse_volatility``, ``min_variance``, ``hrp``, ``max_sharpe``,
        ``risk_parity`` or ``barbell`` (defaults of each, `tvs_pipeline.allocation.profiles`).
    max_weight : float, optional
        Cap per atom (none by default); raised to ``1/n`` when infeasible.
    clusters : Series, optional
        Atom -> cluster id; with ``cluster_cap``, each cluster's total weight is capped
        (raised to ``1/k`` over ``k`` clusters when infeasible).
    cluster_cap : float, optional
        The bucket cap.
    scores : Series, optional
        Atom -> selection score: the barbell's aggressive sleeve takes the highest.
    benchmark : Series, optional
        Daily returns of the sleeve benchmark: the book's beta to it is held within
        `beta_tolerance` (market-neutral).
    holdings : Series, optional
        Current weights: with ``friction``, trading away from them costs its friction.
    friction : FrictionModel, optional
        The simulator's cost model; its per-unit cost prices turnover.

    Returns
    -------
    Series
        Weights indexed like ``returns.columns``, name ``weight``, summing to 1.
    """
    cost = 0.0
    if friction is not None and holdings is not None:
        cost = float(friction.rate)
    return solve_allocation(
        returns,
        engine,
        profile,
        max_weight=max_weight,
        clusters=clusters,
        cluster_cap=cluster_cap,
        scores=scores,
        benchmark=benchmark,
        holdings=holdings,
        cost_per_turnover=cost,
    ).weights


def _barbell(
    problem: AllocationProblem, engine: Engine, profile: Barbell, scores: pd.Series | None
) -> np.ndarray:
    """The barbell rule (`Barbell`): top-scored sleeve equal weight, low-risk core optimised."""
    if scores is None:
        raise ConfigError("allocation profile 'barbell': needs the atoms' selection scores")
    atoms = problem.atoms
    aggressive_n = profile.aggressive_count
    if len(atoms) < aggressive_n + 2:
        # No room for two sleeves: the core's profile over every atom.
        core_problem = problem.restricted(list(atoms), profile.core_profile(), 1.0)
        return engine.solve(core_problem) if len(atoms) > 1 else np.ones(1)
    ranked = scores.reindex(atoms).fillna(-np.inf)
    order = sorted(atoms, key=lambda a: (-ranked[a], str(a)))
    aggressive = order[:aggressive_n]
    rest = [a for a in atoms if a not in set(aggressive)]
    share = profile.core_share
    vol = problem.returns[rest].std(ddof=1)
    core = [a for a in rest if vol[a] <= vol.median()]
    # At least two atoms, and enough that the core's capital fits under the per-atom cap.
    needed = min(len(rest), max(2, int(np.ceil(share / problem.max_weight - 1e-9))))
    if len(core) < needed:
        core = vol.sort_values(kind="mergesort").index[:needed].tolist()
    core_problem = problem.restricted(core, profile.core_profile(), share)
    core_w = engine.solve(core_problem) if len(core) > 1 else np.ones(1)
    weights = pd.Series(0.0, index=atoms)
    weights[core] = share * np.asarray(core_w, dtype=float)
    weights[aggressive] = (1.0 - share) / aggressive_n
    return weights.to_numpy()
