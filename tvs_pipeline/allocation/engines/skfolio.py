"""The skfolio engine: each profile as one skfolio estimator fitted on the shared estimates."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import cvxpy as cp
import numpy as np
from skfolio.cluster import HierarchicalClustering, LinkageMethod
from skfolio.distance import CovarianceDistance
from skfolio.exceptions import SkfolioError
from skfolio.measures import RiskMeasure
from skfolio.optimization import (
    EqualWeighted,
    HierarchicalRiskParity,
    InverseVolatility,
    MeanRisk,
    ObjectiveFunction,
    RiskBudgeting,
)
from skfolio.prior import BasePrior, ReturnDistribution
from skfolio.seriation import HierarchicalSeriation

from tvs_pipeline.allocation.problem import AllocationProblem, constraint_names
from tvs_pipeline.allocation.profiles import Hrp, MaxSharpe
from tvs_pipeline.errors import OptimizationError

__all__ = ["SharedPrior", "SkfolioEngine"]

# CLARABEL's gap tolerances, ten times tighter than skfolio's default (1e-9). Measured on 64
# windows of 8-50 atoms, the largest weight difference from the reference engine falls from
# ~8e-6 to ~3e-6 (median ~1e-7); no solve of 672 (with and without constraints) ended
# 'optimal_inaccurate'.
SOLVER_PARAMS = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10}


class SharedPrior(BasePrior):
    """A skfolio prior that returns the given moments instead of estimating them.

    Every engine must solve on the same estimates (`AllocationProblem.cov`, ``.mean``);
    skfolio's optimisers read them from a prior's ``return_distribution_``, so this prior
    hands over the shared ones and keeps ``X`` only as the return scenarios.

    Parameters
    ----------
    covariance : ndarray of shape (n_assets, n_assets)
        The shared covariance.
    mu : ndarray of shape (n_assets,), optional
        The shared expected returns (zeros when the profile reads none).
    """

    def __init__(self, covariance: np.ndarray | None = None, mu: np.ndarray | None = None) -> None:
        self.covariance = covariance
        self.mu = mu

    def fit(self, X: Any, y: None = None, **fit_params: Any) -> SharedPrior:
        """Store the given moments beside the scenarios ``X`` (dates x atoms).

        Raises
        ------
        ValueError
            The covariance is missing or its shape does not match ``X``.
        """
        returns = np.asarray(X, dtype="float64")
        n = returns.shape[1]
        if self.covariance is None:
            raise ValueError("SharedPrior: no covariance given")
        covariance = np.asarray(self.covariance, dtype="float64")
        mu = np.zeros(n) if self.mu is None else np.asarray(self.mu, dtype="float64")
        self.return_distribution_ = ReturnDistribution(
            mu=mu, covariance=covariance, returns=returns
        )
        return self


class SkfolioEngine:
    """Every profile as its skfolio estimator, on the shared covariance and mean.

    ===================  =======================================================================
    profile              skfolio
    ===================  =======================================================================
    equal_weight         ``EqualWeighted``
    inverse_volatility   ``InverseVolatility`` (the shared covariance's diagonal)
    min_variance         ``MeanRisk(MINIMIZE_RISK, VARIANCE)``
    max_sharpe           ``MeanRisk(MAXIMIZE_RATIO, VARIANCE, risk_free_rate)``
    risk_parity          ``RiskBudgeting(VARIANCE)``, equal budgets
    hrp                  ``HierarchicalRiskParity(VARIANCE)`` on ``CovarianceDistance`` of the
                         shared covariance (``√(½(1 − ρ))``), the profile's linkage, plain leaf
                         order (``optimal_ordering=False``, as the reference engine)
    ===================  =======================================================================

    The convex ones (``min_variance``, ``max_sharpe``, ``risk_parity``) carry the per-atom cap
    (``max_weights``), the cluster buckets (``groups`` + ``linear_constraints``) and the beta
    band (``left_inequality`` / ``right_inequality``); ``min_variance`` also prices turnover
    (``add_objective``: skfolio's ``transaction_costs`` only enter the expected return, which
    minimising risk never reads). ``hrp`` carries the cap inside its bisection (each split
    bounded by the caps below it: under a binding cap, another book than the reference
    engine's projection); the naive ones carry nothing. The objective is multiplied by
    1 / mean variance (``scale_objective``) so CLARABEL's absolute tolerances leave
    daily-scale weights accurate to ~1e-7.

    ``risk_parity`` under a binding constraint is skfolio's constrained risk budgeting
    (``A w ≤ s b`` on the unnormalised weights), not the reference engine's projection of the
    unconstrained equal-risk book: both satisfy the constraints, the books differ.
    """

    name = "skfolio"
    profiles = frozenset(
        {"equal_weight", "inverse_volatility", "min_variance", "max_sharpe", "risk_parity", "hrp"}
    )
    # Cluster caps and the beta band are native to min_variance, max_sharpe and risk_parity,
    # turnover to min_variance only (`native` names min_variance's); the projection
    # (`project_onto_constraints`) covers the profiles that lack them.
    native = frozenset({"cluster_cap", "beta", "turnover"})

    def solve(self, problem: AllocationProblem) -> np.ndarray:
        """Weights for ``problem.profile`` (see the class notes).

        Raises
        ------
        OptimizationError
            skfolio failed, the constraints are infeasible, or the solver status is not
            ``optimal`` (the message names engine, profile and status).
        """
        name = problem.profile.name
        where = f"skfolio {name} on {problem.n} atoms"
        if name == "max_sharpe":
            _check_excess_return(problem, where)
        model = self._estimator(problem)
        try:
            with warnings.catch_warnings():
                # The status is checked below; skfolio's warning would only repeat it.
                warnings.filterwarnings("ignore", "Solution may be inaccurate", UserWarning)
                model.fit(problem.returns)
        except (SkfolioError, cp.SolverError, ValueError, ArithmeticError) as err:
            status = _status(model)
            if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
                raise OptimizationError(_infeasible(problem, where)) from err
            detail = f"solver status {status!r}; " if status else ""
            raise OptimizationError(f"{where}: {detail}{type(err).__name__}: {err}") from err
        status = _status(model)
        if status is not None and status != cp.OPTIMAL:
            raise OptimizationError(f"{where}: solver status {status!r}, expected 'optimal'")
        weights = np.asarray(model.weights_, dtype="float64")
        if weights.shape != (problem.n,) or not np.isfinite(weights).all():
            raise OptimizationError(
                f"{where}: skfolio returned non-finite or misshapen weights {weights.shape}"
            )
        weights = np.clip(weights, 0.0, None)
        return weights / weights.sum()

    def _estimator(self, problem: AllocationProblem):
        """The skfolio estimator of ``problem.profile``, unfitted."""
        name = problem.profile.name
        if name == "equal_weight":
            return EqualWeighted()
        prior = SharedPrior(
            covariance=problem.cov.to_numpy(dtype="float64"),
            mu=None if problem.mean is None else problem.mean.to_numpy(dtype="float64"),
        )
        if name == "inverse_volatility":
            return InverseVolatility(prior_estimator=prior)
        if name == "hrp":
            assert isinstance(problem.profile, Hrp)
            clustering = HierarchicalClustering(
                linkage_method=LinkageMethod[problem.profile.linkage.upper()]
            )
            return HierarchicalRiskParity(
                risk_measure=RiskMeasure.VARIANCE,
                prior_estimator=prior,
                distance_estimator=CovarianceDistance(covariance_estimator="precomputed"),
                seriation_estimator=HierarchicalSeriation(
                    hierarchical_clustering_estimator=clustering, optimal_ordering=False
                ),
                max_weights=problem.max_weight,
            )
        convex = {
            "prior_estimator": prior,
            "min_weights": 0.0,
            "max_weights": problem.max_weight,
            "solver": "CLARABEL",
            "solver_params": dict(SOLVER_PARAMS),
            "scale_objective": _objective_scale(problem),
            "save_problem": True,
            **_linear_constraints(problem),
        }
        if name == "risk_parity":
            # The log-barrier constraint (exponential cones) needs its own scale: at 1 CLARABEL
            # ended 'optimal_inaccurate' on 3 of 224 windows of 8-50 atoms, at n on none.
            return RiskBudgeting(
                risk_measure=RiskMeasure.VARIANCE,
                risk_budget=None,
                scale_constraints=float(problem.n),
                **convex,
            )
        if name == "max_sharpe":
            assert isinstance(problem.profile, MaxSharpe)
            return MeanRisk(
                objective_function=ObjectiveFunction.MAXIMIZE_RATIO,
                risk_measure=RiskMeasure.VARIANCE,
                risk_free_rate=problem.profile.risk_free_rate,
                **convex,
            )
        return MeanRisk(
            objective_function=ObjectiveFunction.MINIMIZE_RISK,
            risk_measure=RiskMeasure.VARIANCE,
            add_objective=_turnover_cost(problem),
            **convex,
        )


def _objective_scale(problem: AllocationProblem) -> float | None:
    """1 / mean variance: the argmin is unchanged, CLARABEL's tolerances become relative."""
    cov = problem.cov.to_numpy(dtype="float64")
    mean_variance = float(np.trace(cov)) / len(cov)
    return 1.0 / mean_variance if mean_variance > 0 else None


def _linear_constraints(problem: AllocationProblem) -> dict[str, Any]:
    """Skfolio's keywords for the cluster buckets and the beta band in force."""
    out: dict[str, Any] = {}
    if problem.cluster_cap is not None and problem.clusters is not None:
        members, ids = problem.cluster_matrix()
        # Names of our own: cluster ids may be numbers, and skfolio parses the equations.
        labels = [f"cluster{k}" for k in range(len(ids))]
        out["groups"] = [[labels[k] for k in members.argmax(axis=0)]]
        cap = repr(float(problem.cluster_cap))
        out["linear_constraints"] = [f"{label} <= {cap}" for label in labels]
    if problem.beta_tolerance is not None and problem.betas is not None:
        beta = problem.betas.to_numpy(dtype="float64")
        out["left_inequality"] = np.vstack([beta, -beta])
        out["right_inequality"] = np.full(2, float(problem.beta_tolerance))
    return out


def _turnover_cost(problem: AllocationProblem) -> Callable[[cp.Variable], cp.Expression] | None:
    """``cost · ‖w − h‖₁`` as skfolio's ``add_objective``, or None without holdings or cost.

    Added to the raw variance before skfolio's ``scale_objective``, it is the reference
    engine's term exactly (cost / mean variance on the scaled covariance).
    """
    if problem.holdings is None or problem.cost_per_turnover <= 0:
        return None
    holdings = problem.holdings.to_numpy(dtype="float64")
    rate = float(problem.cost_per_turnover)

    def cost(w: cp.Variable) -> cp.Expression:
        return rate * cp.norm1(w - holdings)

    return cost


def _infeasible(problem: AllocationProblem, where: str) -> str:
    names = constraint_names(problem)
    if problem.profile.name == "max_sharpe":
        # The ratio programme is also empty when every feasible book earns at most r_f.
        return (
            f"{where}: infeasible: no book under {names} has an expected return above "
            "the risk-free rate"
        )
    return f"{where}: infeasible under {names}"


def _check_excess_return(problem: AllocationProblem, where: str) -> None:
    assert isinstance(problem.profile, MaxSharpe)
    excess = problem.mean.to_numpy(dtype="float64") - problem.profile.risk_free_rate
    if not (excess > 0).any():
        raise OptimizationError(f"{where}: no atom's expected return exceeds the risk-free rate")


def _status(model: object) -> str | None:
    """The cvxpy status of a convex skfolio estimator's last solve (None for the others)."""
    prob = getattr(model, "problem_", None)
    return None if prob is None else prob.status
