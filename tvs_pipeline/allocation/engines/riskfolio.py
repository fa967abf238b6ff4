"""The Riskfolio-Lib engine: each profile Riskfolio offers, on the shared estimates."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pandas as pd
import riskfolio as rp
from cvxpy.reductions.solvers.conic_solvers.clarabel_conif import CLARABEL

from tvs_pipeline.allocation.problem import AllocationProblem, constraint_names
from tvs_pipeline.allocation.profiles import Hrp, MaxSharpe
from tvs_pipeline.errors import OptimizationError

__all__ = ["RiskfolioEngine", "StatusClarabel"]

# CLARABEL's gap tolerances (as the skfolio engine: ~1e-7 typical, ~3e-6 worst measured).
SOLVER_PARAMS = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10}


class StatusClarabel(CLARABEL):
    """CLARABEL that keeps the status of each solve, which Riskfolio-Lib discards.

    Riskfolio walks its ``solvers`` list and takes the first that returns any values, an
    iteration limit or an inaccurate optimum included. Given this one instance as its only
    solver (cvxpy accepts a solver instance under a name of its own), the engine reads the
    status afterwards.
    """

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[str] = []

    def name(self) -> str:
        """A name distinct from cvxpy's own solvers (cvxpy requires it)."""
        return "CLARABEL_WITH_STATUS"

    def invert(self, solution, inverse_data):
        """The solution as cvxpy's CLARABEL inverts it, its status recorded."""
        out = super().invert(solution, inverse_data)
        self.statuses.append(out.status)
        return out


class RiskfolioEngine:
    """The profiles Riskfolio-Lib offers natively, on the shared covariance and mean.

    ============  =========================================================================
    profile       Riskfolio-Lib
    ============  =========================================================================
    min_variance  ``Portfolio.optimization(model="Classic", rm="MV", obj="MinRisk")``
    max_sharpe    ``Portfolio.optimization(model="Classic", rm="MV", obj="Sharpe", rf)``
    risk_parity   ``Portfolio.rp_optimization(model="Classic", rm="MV")``, equal budgets
    hrp           ``HCPortfolio.optimization(model="HRP", rm="MV", codependence="custom_cov",
                  method_cov="custom_cov", linkage, leaf_order=False)``
    ============  =========================================================================

    ``equal_weight`` and ``inverse_volatility`` are not offered: Riskfolio has no such
    portfolio (its naive inverse-risk weights exist only inside HRP's bisection).

    The shared moments are injected (``port.cov``, ``port.mu``; ``custom_cov`` for HRP, whose
    ``"pearson"`` codependence would re-estimate the correlation from the raw returns). For
    the convex profiles the covariance is divided by its mean variance and the excess returns
    by their largest value: the argmin is unchanged, and CLARABEL's absolute tolerances act on
    numbers of order one instead of daily variances (~1e-4).

    Constraints: ``min_variance`` and ``max_sharpe`` carry the cap (``upperlng``), the
    cluster buckets and the beta band (``ainequality`` / ``binequality``: ``A w ≤ b``);
    ``risk_parity`` ignores ``upperlng``, so its cap rows join ``A`` (``A w ≤ b·Σw``, the
    constrained risk budget). ``hrp`` carries the cap (``w_max``: clip and redistribute).
    Turnover is not priced: Riskfolio's turnover is a hard band around benchmark weights, not
    a cost.

    Riskfolio keeps the solver status to itself and accepts any values a solver returns; the
    engine hands it one `StatusClarabel` and reads the status back, so anything but
    ``optimal`` fails as it does in the other engines.
    """

    name = "riskfolio"
    profiles = frozenset({"min_variance", "max_sharpe", "risk_parity", "hrp"})
    # Cluster caps and the beta band are native to the convex profiles only (HCPortfolio takes
    # no linear constraints), turnover to none (`native` names min_variance's); the
    # projection covers the rest.
    native = frozenset({"cluster_cap", "beta"})

    def solve(self, problem: AllocationProblem) -> np.ndarray:
        """Weights for ``problem.profile`` (see the class notes).

        Raises
        ------
        OptimizationError
            Riskfolio failed, the solver status is not ``optimal``, or the constraints leave
            no solution (the message names engine, profile and status or constraints).
        """
        name = problem.profile.name
        where = f"riskfolio {name} on {problem.n} atoms"
        solver = StatusClarabel()
        try:
            with warnings.catch_warnings():
                # The status is checked below; Riskfolio's Sharpe programme also trips cvxpy's
                # deprecation of ``*`` for matrix products (library noise, not ours).
                warnings.filterwarnings("ignore", "Solution may be inaccurate")
                warnings.filterwarnings("ignore", r"\s*This use of ``\*`` has resulted in matrix")
                if name == "hrp":
                    result = _hrp(problem)
                elif name == "risk_parity":
                    result = _portfolio(problem, solver).rp_optimization(
                        model="Classic", rm="MV", rf=0, b=None, hist=True
                    )
                elif name == "max_sharpe":
                    result = _max_sharpe(problem, solver, where)
                else:
                    result = _portfolio(problem, solver).optimization(
                        model="Classic", rm="MV", obj="MinRisk", rf=0, l=0, hist=True
                    )
        except OptimizationError:
            raise
        except (cp.SolverError, ValueError, ArithmeticError, NameError, KeyError) as err:
            raise OptimizationError(f"{where}: {type(err).__name__}: {err}") from err
        status = solver.statuses[-1] if solver.statuses else None
        if result is None:
            _raise_no_solution(problem, where, status)
        if status is not None and status != cp.OPTIMAL:
            raise OptimizationError(f"{where}: solver status {status!r}, expected 'optimal'")
        weights = result["weights"].reindex(problem.atoms).to_numpy(dtype="float64")
        if not np.isfinite(weights).all():
            raise OptimizationError(f"{where}: Riskfolio returned non-finite weights")
        weights = np.clip(weights, 0.0, None)
        return weights / weights.sum()


def _portfolio(
    problem: AllocationProblem, solver: StatusClarabel, mu: np.ndarray | None = None
) -> rp.Portfolio:
    """A long-only ``Portfolio`` holding the scaled shared moments and the constraints."""
    atoms = problem.atoms
    port = rp.Portfolio(returns=problem.returns, sht=False, upperlng=problem.max_weight)
    cov = problem.cov.to_numpy(dtype="float64")
    scale = float(np.trace(cov)) / len(cov)
    if problem.profile.name == "risk_parity":
        # Risk budgeting's unnormalised weights sit near e each (mean log w ≥ 1), so its risk
        # is ~n times larger; without the extra 1/n CLARABEL ended 'optimal_inaccurate' on
        # 2 of 224 windows of 8-50 atoms, with it on none.
        scale *= problem.n
    port.cov = pd.DataFrame(cov / scale if scale > 0 else cov, index=atoms, columns=atoms)
    port.mu = pd.DataFrame([np.zeros(problem.n) if mu is None else mu], columns=atoms)
    # The one solver: Riskfolio would otherwise walk on to ECOS, SCS, ... silently.
    port.solvers = [solver]
    port.sol_params = {solver: dict(SOLVER_PARAMS)}
    a, b = _inequalities(problem, with_cap=problem.profile.name == "risk_parity")
    if len(a):
        port.ainequality = a
        port.binequality = b
    return port


def _max_sharpe(
    problem: AllocationProblem, solver: StatusClarabel, where: str
) -> pd.DataFrame | None:
    assert isinstance(problem.profile, MaxSharpe)
    rf = problem.profile.risk_free_rate
    mean = problem.mean.to_numpy(dtype="float64")
    if not (mean - rf > 0).any():
        raise OptimizationError(f"{where}: no atom's expected return exceeds the risk-free rate")
    # Dividing μ and r_f by the same positive number leaves the tangency book unchanged.
    unit = float((mean - rf).max())
    port = _portfolio(problem, solver, mu=mean / unit)
    return port.optimization(model="Classic", rm="MV", obj="Sharpe", rf=rf / unit, l=0, hist=True)


def _hrp(problem: AllocationProblem) -> pd.DataFrame | None:
    assert isinstance(problem.profile, Hrp)
    port = rp.HCPortfolio(returns=problem.returns, w_max=float(problem.max_weight))
    return port.optimization(
        model="HRP",
        codependence="custom_cov",
        rm="MV",
        method_cov="custom_cov",
        custom_cov=problem.cov.astype("float64"),
        linkage=problem.profile.linkage,
        leaf_order=False,
    )


def _inequalities(problem: AllocationProblem, with_cap: bool) -> tuple[np.ndarray, np.ndarray]:
    """``A`` (rows x atoms) and ``b`` (rows x 1) of ``A w ≤ b`` for the constraints in force."""
    n = problem.n
    rows, bounds = [], []
    if with_cap and problem.max_weight < 1.0:
        rows.append(np.eye(n))
        bounds.append(np.full(n, float(problem.max_weight)))
    if problem.cluster_cap is not None and problem.clusters is not None:
        members, _ = problem.cluster_matrix()
        rows.append(members)
        bounds.append(np.full(len(members), float(problem.cluster_cap)))
    if problem.beta_tolerance is not None and problem.betas is not None:
        beta = problem.betas.to_numpy(dtype="float64")
        rows.append(np.vstack([beta, -beta]))
        bounds.append(np.full(2, float(problem.beta_tolerance)))
    if not rows:
        return np.zeros((0, n)), np.zeros((0, 1))
    return np.vstack(rows), np.concatenate(bounds)[:, None]


def _raise_no_solution(problem: AllocationProblem, where: str, status: str | None) -> None:
    """Say why no weights came back: the solver's status, named constraints when infeasible."""
    if status not in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        raise OptimizationError(f"{where}: solver status {status!r}, no weights returned")
    names = constraint_names(problem)
    if isinstance(problem.profile, MaxSharpe):
        # The ratio programme is also empty when every feasible book earns at most r_f.
        raise OptimizationError(
            f"{where}: infeasible: no book under {names} has an expected return above the "
            "risk-free rate"
        )
    raise OptimizationError(f"{where}: infeasible under {names}")
