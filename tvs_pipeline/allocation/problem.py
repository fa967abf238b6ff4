"""One allocation question as every engine receives it: estimates, bounds and constraints.

The shared estimates (covariance, mean) are computed once here, so engines cannot disagree about
the inputs; the constraints (per-atom cap, cluster buckets, market-neutral beta band, the cost of
trading away from current holdings) are checked here, and projected onto here for an engine that
cannot express one of them (docs/methodology.md, section 10).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tvs_pipeline.allocation.estimators import estimate_covariance, estimate_mean
from tvs_pipeline.allocation.profiles import Profile
from tvs_pipeline.errors import DataError, OptimizationError

__all__ = [
    "CONSTRAINT_TOL",
    "AllocationProblem",
    "check_constraints",
    "constraint_names",
    "cvx_constraints",
    "feasible_cap",
    "project_onto_constraints",
]

# A weight may exceed its bound by this much before it counts as a violation (solver noise).
CONSTRAINT_TOL = 1e-6


def feasible_cap(cap: float, groups: int) -> float:
    """The smallest feasible cap: ``max(cap, 1/groups)`` (``groups`` atoms or clusters)."""
    return max(float(cap), 1.0 / max(int(groups), 1))


@dataclass(frozen=True)
class AllocationProblem:
    """Everything an engine needs to weight one window's atoms.

    Attributes
    ----------
    returns : DataFrame
        Dates x atoms, daily simple returns, fully observed (no NaN).
    profile : Profile
        What to optimise.
    max_weight : float
        Cap per atom, already feasible (``>= 1/n``).
    cov : DataFrame or None
        Shared covariance estimate (atoms x atoms), when the profile reads it.
    mean : Series or None
        Shared expected daily returns, when the profile reads them.
    clusters : Series or None
        Atom -> cluster id (every atom present) for the cluster buckets.
    cluster_cap : float or None
        Cap on each cluster's total weight, already feasible (``>= 1/k``).
    betas : Series or None
        Each atom's beta to the sleeve benchmark, for the market-neutral band.
    beta_tolerance : float or None
        ``|Σ w_i β_i| <= beta_tolerance`` when given.
    holdings : Series or None
        Current weights (atoms absent count as 0), for the cost of trading.
    cost_per_turnover : float
        Cost of trading one unit of weight (``(slippage + commission) / 1e4``); 0 ignores
        holdings.
    """

    returns: pd.DataFrame
    profile: Profile
    max_weight: float = 1.0
    cov: pd.DataFrame | None = field(default=None, repr=False)
    mean: pd.Series | None = field(default=None, repr=False)
    clusters: pd.Series | None = None
    cluster_cap: float | None = None
    betas: pd.Series | None = None
    beta_tolerance: float | None = None
    holdings: pd.Series | None = None
    cost_per_turnover: float = 0.0

    @classmethod
    def build(
        cls, returns: pd.DataFrame, profile: Profile, **constraints: object
    ) -> AllocationProblem:
        """Validate ``returns``, estimate what ``profile`` reads, align every constraint.

        Raises
        ------
        DataError
            Empty window, duplicate or non-string atom ids, a non-finite return, or a
            constraint series missing an atom.
        """
        _check_returns(returns)
        atoms = returns.columns
        est = profile.estimation
        cov = estimate_covariance(returns, est) if profile.reads_covariance else None
        mean = estimate_mean(returns) if profile.reads_mean else None
        aligned = {}
        for name in ("clusters", "betas"):
            series = constraints.get(name)
            if series is not None:
                missing = sorted(map(str, atoms.difference(series.index)))
                if missing:
                    raise DataError(f"allocation {name}: no value for atoms {missing}")
                aligned[name] = series.reindex(atoms)
        holdings = constraints.get("holdings")
        if holdings is not None:
            aligned["holdings"] = holdings.reindex(atoms).fillna(0.0).astype("float64")
        return cls(
            returns=returns,
            profile=profile,
            cov=cov,
            mean=mean,
            **{k: v for k, v in constraints.items() if k not in aligned},
            **aligned,
        )

    @property
    def n(self) -> int:
        """Number of atoms."""
        return self.returns.shape[1]

    @property
    def atoms(self) -> pd.Index:
        """Atom ids, in column order."""
        return self.returns.columns

    def cluster_matrix(self) -> tuple[np.ndarray, list]:
        """``(k, n)`` 0/1 membership of each atom in each cluster, and the cluster ids."""
        if self.clusters is None:
            return np.zeros((0, self.n)), []
        ids = sorted(self.clusters.unique().tolist())
        values = self.clusters.to_numpy()
        return np.array([(values == c).astype("float64") for c in ids]), ids

    def restricted(self, atoms: list[str], profile: Profile, budget: float) -> AllocationProblem:
        """The same question over ``atoms`` only, for a sleeve holding ``budget`` of capital.

        Per-atom and cluster caps scale by ``1/budget`` so the sleeve's weights, once
        multiplied by the budget, respect the book's caps.
        """
        cap = min(1.0, self.max_weight / budget)
        clusters = self.clusters.loc[atoms] if self.clusters is not None else None
        cluster_cap = None
        if self.cluster_cap is not None and clusters is not None:
            cluster_cap = feasible_cap(min(1.0, self.cluster_cap / budget), clusters.nunique())
        return AllocationProblem.build(
            self.returns[atoms],
            profile,
            max_weight=feasible_cap(cap, len(atoms)),
            clusters=clusters,
            cluster_cap=cluster_cap,
        )


def check_constraints(weights: np.ndarray, problem: AllocationProblem) -> list[str]:
    """Every constraint ``weights`` break, each as one phrase (empty: all hold)."""
    w = np.asarray(weights, dtype="float64")
    broken = []
    if not np.isfinite(w).all():
        return ["non-finite weights"]
    if abs(w.sum() - 1.0) > CONSTRAINT_TOL:
        broken.append(f"weights sum to {w.sum():.9g}, expected 1")
    if w.min() < -CONSTRAINT_TOL:
        broken.append(f"weight {w.min():.3g} is negative")
    if w.max() > problem.max_weight + CONSTRAINT_TOL:
        broken.append(f"weight {w.max():.4g} above the cap {problem.max_weight:.4g}")
    if problem.cluster_cap is not None and problem.clusters is not None:
        members, ids = problem.cluster_matrix()
        totals = members @ w
        worst = int(np.argmax(totals)) if len(totals) else 0
        if len(totals) and totals[worst] > problem.cluster_cap + CONSTRAINT_TOL:
            broken.append(
                f"cluster {ids[worst]} holds {totals[worst]:.4g}, above the cluster cap "
                f"{problem.cluster_cap:.4g}"
            )
    if problem.beta_tolerance is not None and problem.betas is not None:
        beta = float(problem.betas.to_numpy() @ w)
        if abs(beta) > problem.beta_tolerance + CONSTRAINT_TOL:
            broken.append(f"portfolio beta {beta:.4g} outside ±{problem.beta_tolerance:.4g}")
    return broken


def project_onto_constraints(weights: np.ndarray, problem: AllocationProblem) -> np.ndarray:
    """The nearest weights (Euclidean) that satisfy every constraint of ``problem``.

    For an engine whose library cannot express a constraint (a cluster bucket in HRP, a beta
    band in risk parity): solve ``min ‖w − w₀‖²`` over the long-only simplex with the per-atom
    cap, the cluster caps and the beta band, a small quadratic programme (cvxpy, CLARABEL).
    Weights that already satisfy everything are returned unchanged.

    Raises
    ------
    OptimizationError
        The constraint set is infeasible (named), or the solver fails.
    """
    w0 = np.asarray(weights, dtype="float64")
    if not check_constraints(w0, problem):
        return w0
    import cvxpy as cp

    w = cp.Variable(problem.n)
    constraints = cvx_constraints(w, problem)
    cp.Problem(cp.Minimize(cp.sum_squares(w - w0)), constraints).solve(solver=cp.CLARABEL)
    if w.value is None:
        raise OptimizationError(
            f"projection onto the constraints: infeasible ({constraint_names(problem)})"
        )
    out = np.clip(np.asarray(w.value, dtype="float64"), 0.0, None)
    return out / out.sum()


def constraint_names(problem: AllocationProblem) -> str:
    """The constraints in force, for messages (``cap 0.25, cluster cap 0.2, beta ±0.1``)."""
    parts = [f"cap {problem.max_weight:.4g}"]
    if problem.cluster_cap is not None and problem.clusters is not None:
        parts.append(f"cluster cap {problem.cluster_cap:.4g}")
    if problem.beta_tolerance is not None and problem.betas is not None:
        parts.append(f"market-neutral beta ±{problem.beta_tolerance:.4g}")
    return ", ".join(parts)


def cvx_constraints(w, problem: AllocationProblem) -> list:
    """The problem's constraints on a cvxpy variable ``w`` (the budget included)."""
    import cvxpy as cp

    out = [cp.sum(w) == 1, w >= 0, w <= problem.max_weight]
    if problem.cluster_cap is not None and problem.clusters is not None:
        members, _ = problem.cluster_matrix()
        out.append(members @ w <= problem.cluster_cap)
    if problem.beta_tolerance is not None and problem.betas is not None:
        beta = problem.betas.to_numpy(dtype="float64")
        out += [beta @ w <= problem.beta_tolerance, beta @ w >= -problem.beta_tolerance]
    return out


def _check_returns(returns: pd.DataFrame) -> None:
    if not isinstance(returns, pd.DataFrame) or returns.shape[0] == 0 or returns.shape[1] == 0:
        raise DataError(
            f"allocation: returns must be a non-empty frame, got {getattr(returns, 'shape', None)}"
        )
    if returns.columns.has_duplicates:
        dupes = sorted(map(str, returns.columns[returns.columns.duplicated()]))
        raise DataError(f"allocation: duplicate atom columns {dupes}")
    values = returns.to_numpy(dtype="float64")
    if not np.isfinite(values).all():
        bad = sorted(map(str, returns.columns[~np.isfinite(values).all(axis=0)]))
        raise DataError(f"allocation: non-finite returns in atoms {bad}, expected none")
