"""The PyPortfolioOpt engine: `EfficientFrontier` (min variance, max Sharpe) and `HRPOpt`."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
from pypfopt import EfficientFrontier, HRPOpt, objective_functions
from pypfopt.exceptions import OptimizationError as PypfoptError

from tvs_pipeline.allocation.engines.custom import scaled_covariance
from tvs_pipeline.allocation.problem import AllocationProblem, constraint_names
from tvs_pipeline.allocation.profiles import Hrp, MaxSharpe
from tvs_pipeline.errors import OptimizationError

__all__ = ["PyPortfolioOptEngine"]

SOLVER = "CLARABEL"


class PyPortfolioOptEngine:
    """PyPortfolioOpt's translation of the profiles, on the shared covariance and mean.

    ``min_variance``
        ``EfficientFrontier(mean, Σ/s, weight_bounds=(0, cap), solver="CLARABEL")
        .min_volatility()``, where ``s`` is the mean variance (`scaled_covariance`: the
        argmin is unchanged, and on the raw ~1e-4 scale the solver's absolute tolerances
        would leave the weights loose by ~1e-4). With holdings and a cost,
        ``objective_functions.transaction_cost`` (``k‖w − h‖₁``, ``k = cost / s`` in the
        scaled units) is an added objective.
    ``max_sharpe``
        ``EfficientFrontier(...).max_sharpe(risk_free_rate=r_f)``: PyPortfolioOpt annualises
        nothing when given moments, so the daily mean and the profile's daily ``r_f`` are
        passed as they are. Its Charnes-Cooper form ``min yᵀΣy, (μ − r_f)ᵀy = 1`` is invariant
        to scaling ``Σ``, so ``Σ/s`` is passed here too. It needs one atom with ``μ_i > r_f``
        (checked first). The cost of trading is not applied: PyPortfolioOpt adds extra
        objectives to the transformed variable unscaled, which changes their meaning.
    ``hrp``
        ``HRPOpt(cov_matrix=Σ).optimize(linkage_method=profile.linkage)``. Only the covariance
        is passed: given ``returns`` as well, ``HRPOpt`` ignores ``cov_matrix`` and uses the
        sample covariance and correlation of the returns instead of the shared estimate. It
        uses the same distance ``√(½(1 − ρ))`` (on ρ rounded to 6 decimals), the tree's
        pre-order leaf order (scipy's ``leaves_list``) and the same recursive bisection as
        `custom.hrp_weights`. HRP carries no constraint: caps, cluster caps and the beta band
        are met by the projection afterwards.

    ``equal_weight``, ``inverse_volatility`` and ``risk_parity`` are not offered: PyPortfolioOpt
    has no such optimiser (its ``EfficientFrontier`` and ``HRPOpt`` are the ones used here).

    ``native``: ``min_variance`` expresses the cluster caps (``add_sector_constraints``, each
    cluster's upper bound), the beta band (``add_constraint``, both sides) and turnover
    (``transaction_cost``); ``max_sharpe`` the cluster caps and the beta band, which
    PyPortfolioOpt rewrites for its transformed variable; ``hrp`` none.
    """

    name = "pyportfolioopt"
    profiles = frozenset({"min_variance", "max_sharpe", "hrp"})
    native = frozenset({"cluster_cap", "beta", "turnover"})

    def solve(self, problem: AllocationProblem) -> np.ndarray:
        """Long-only weights for ``problem.profile``, in the atom order of ``problem``.

        Raises
        ------
        OptimizationError
            The constraints are infeasible (named), no atom's mean exceeds the risk-free rate
            (``max_sharpe``), or PyPortfolioOpt failed (its cause quoted).
        """
        where = f"pyportfolioopt {problem.profile.name} on {problem.n} atoms"
        try:
            if problem.profile.name == "hrp":
                raw = self._hrp(problem)
            else:
                raw = self._frontier(problem, where)
        except (PypfoptError, cp.SolverError, ValueError) as err:
            # PyPortfolioOpt's own error puts a generic hint first and the solver status last.
            cause = str(err.args[-1]) if err.args else type(err).__name__
            if isinstance(err, PypfoptError) and "infeasible" in cause.lower():
                raise OptimizationError(
                    f"{where}: infeasible under {constraint_names(problem)} ({cause})"
                ) from err
            raise OptimizationError(f"{where}: the library failed ({cause})") from err
        if raw is None or not np.isfinite(raw).all():
            raise OptimizationError(f"{where}: non-finite weights, expected finite")
        out = np.clip(raw, 0.0, None)
        if out.sum() <= 0:
            raise OptimizationError(f"{where}: weights sum to {out.sum():.3g}, expected 1")
        return out / out.sum()

    def _frontier(self, problem: AllocationProblem, where: str) -> np.ndarray:
        atoms = problem.atoms
        cov = pd.DataFrame(scaled_covariance(problem), index=atoms, columns=atoms)
        mean = problem.mean.reindex(atoms) if problem.mean is not None else None
        ef = EfficientFrontier(mean, cov, weight_bounds=(0.0, problem.max_weight), solver=SOLVER)
        if problem.cluster_cap is not None and problem.clusters is not None:
            mapper = problem.clusters.to_dict()
            upper = {c: problem.cluster_cap for c in sorted(set(mapper.values()))}
            ef.add_sector_constraints(mapper, {}, upper)
        if problem.beta_tolerance is not None and problem.betas is not None:
            beta = problem.betas.to_numpy(dtype="float64")
            tolerance = float(problem.beta_tolerance)
            ef.add_constraint(lambda w: beta @ w <= tolerance)
            ef.add_constraint(lambda w: beta @ w >= -tolerance)
        if isinstance(problem.profile, MaxSharpe):
            rf = float(problem.profile.risk_free_rate)
            if not (mean.to_numpy(dtype="float64") > rf).any():
                raise OptimizationError(
                    f"{where}: no atom's expected return exceeds the risk-free rate {rf:.3g}"
                )
            weights = ef.max_sharpe(risk_free_rate=rf)
        else:
            if problem.holdings is not None and problem.cost_per_turnover > 0:
                scale = float(np.trace(problem.cov.to_numpy())) / problem.n
                k = problem.cost_per_turnover / scale if scale > 0 else problem.cost_per_turnover
                ef.add_objective(
                    objective_functions.transaction_cost,
                    w_prev=problem.holdings.to_numpy(dtype="float64"),
                    k=k,
                )
            weights = ef.min_volatility()
        return np.array([weights[a] for a in atoms], dtype="float64")

    def _hrp(self, problem: AllocationProblem) -> np.ndarray:
        assert isinstance(problem.profile, Hrp)
        weights = HRPOpt(cov_matrix=problem.cov).optimize(linkage_method=problem.profile.linkage)
        return np.array([weights[a] for a in problem.atoms], dtype="float64")
