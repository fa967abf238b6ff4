"""The reference engine: every profile written out on cvxpy and SciPy, every constraint native.

The other engines are checked against this one (tvs_pipeline_tests/allocation). It is written
by hand because it is the yardstick: each formula here is the one docs/methodology.md states.
"""

from __future__ import annotations

import numpy as np

from tvs_pipeline.allocation.problem import (
    AllocationProblem,
    constraint_names,
    cvx_constraints,
)
from tvs_pipeline.allocation.profiles import Hrp, MaxSharpe
from tvs_pipeline.errors import OptimizationError

__all__ = ["CLARABEL_OPTIONS", "CustomEngine", "hrp_weights", "scaled_covariance"]

# Tighter than CLARABEL's defaults (1e-8): the reference must be accurate to ~1e-9 per weight,
# well inside the 1e-3 the other engines are held to (risk parity's exponential cones would
# otherwise stop at ~2e-6).
CLARABEL_OPTIONS = {
    "tol_gap_abs": 1e-12,
    "tol_gap_rel": 1e-12,
    "tol_feas": 1e-12,
    "tol_ktratio": 1e-10,
}


def scaled_covariance(problem: AllocationProblem) -> np.ndarray:
    """The covariance divided by its mean variance (the argmin is unchanged).

    Daily variances are ~1e-4; interior-point solvers' absolute tolerances would leave the
    weights loose by ~1e-4 on the raw scale and ~1e-8 on this one.
    """
    cov = problem.cov.to_numpy(dtype="float64")
    scale = float(np.trace(cov)) / len(cov)
    return cov / scale if scale > 0 else cov


def hrp_weights(cov: np.ndarray, linkage: str = "ward") -> np.ndarray:
    """Hierarchical risk parity: tree on ``√(½(1 − ρ))``, leaf order, recursive bisection.

    Each split of the ordered atoms into halves gives the left half
    ``α = 1 − V_left / (V_left + V_right)``, where ``V`` is the variance of the half's
    inverse-variance portfolio.

    References
    ----------
    López de Prado, M. (2016), "Building diversified portfolios that outperform out of
    sample", Journal of Portfolio Management 42(4), 59-69.
    """
    from scipy.cluster.hierarchy import leaves_list
    from scipy.cluster.hierarchy import linkage as link
    from scipy.spatial.distance import squareform

    n = len(cov)
    if n == 1:
        return np.ones(1)
    sd = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
    corr = np.clip(cov / np.outer(sd, sd), -1.0, 1.0)
    distance = np.sqrt(np.clip(0.5 * (1.0 - corr), 0.0, None))
    np.fill_diagonal(distance, 0.0)
    order = leaves_list(link(squareform(distance, checks=False), method=linkage))
    weights = np.ones(n)
    stack = [order.tolist()]
    while stack:
        items = stack.pop()
        if len(items) < 2:
            continue
        half = len(items) // 2
        left, right = items[:half], items[half:]
        v_left, v_right = _ivp_variance(cov, left), _ivp_variance(cov, right)
        alpha = 1.0 - v_left / (v_left + v_right) if v_left + v_right > 0 else 0.5
        weights[left] *= alpha
        weights[right] *= 1.0 - alpha
        stack += [left, right]
    return weights / weights.sum()


def _ivp_variance(cov: np.ndarray, items: list[int]) -> float:
    sub = cov[np.ix_(items, items)]
    ivp = 1.0 / np.clip(np.diag(sub), 1e-300, None)
    ivp /= ivp.sum()
    return float(ivp @ sub @ ivp)


class CustomEngine:
    """Every profile on cvxpy (CLARABEL) and SciPy, every constraint native.

    Caps, cluster buckets, the beta band and the cost of trading away from current holdings are
    constraints or terms of the programme.

    ``risk_parity`` solves ``min ½ yᵀΣy − (1/n) Σ log y_i``, ``y > 0``, and normalises
    ``w = y / Σy``: exact equal risk contributions (Spinu 2013). It cannot carry caps, so the
    caps are met by the projection afterwards. ``max_sharpe`` solves the Charnes-Cooper form
    ``min yᵀΣy`` s.t. ``(μ − r_f)ᵀy = 1``, ``0 ≤ y ≤ cap·Σy``, ``w = y / Σy``.
    """

    name = "custom"
    profiles = frozenset(
        {"equal_weight", "inverse_volatility", "min_variance", "max_sharpe", "risk_parity", "hrp"}
    )
    native = frozenset({"cluster_cap", "beta", "turnover"})

    def solve(self, problem: AllocationProblem) -> np.ndarray:
        """Weights for ``problem.profile`` (see the class notes)."""
        name = problem.profile.name
        n = problem.n
        if name == "equal_weight":
            return np.full(n, 1.0 / n)
        if name == "inverse_volatility":
            inv = 1.0 / np.sqrt(np.clip(np.diag(problem.cov.to_numpy()), 1e-300, None))
            return inv / inv.sum()
        if name == "hrp":
            assert isinstance(problem.profile, Hrp)
            return hrp_weights(problem.cov.to_numpy(dtype="float64"), problem.profile.linkage)
        if name == "risk_parity":
            return self._risk_parity(problem)
        if name == "max_sharpe":
            return self._max_sharpe(problem)
        return self._min_variance(problem)

    def _min_variance(self, problem: AllocationProblem) -> np.ndarray:
        import cvxpy as cp

        cov = scaled_covariance(problem)
        w = cp.Variable(problem.n)
        objective = cp.quad_form(w, cp.psd_wrap(cov))
        if problem.holdings is not None and problem.cost_per_turnover > 0:
            # The trade's cost in the same units as the scaled variance: cost / mean variance.
            scale = float(np.trace(problem.cov.to_numpy())) / problem.n
            cost = problem.cost_per_turnover / scale if scale > 0 else problem.cost_per_turnover
            objective = objective + cost * cp.norm1(w - problem.holdings.to_numpy())
        return _solved(cp.Problem(cp.Minimize(objective), cvx_constraints(w, problem)), w, problem)

    def _max_sharpe(self, problem: AllocationProblem) -> np.ndarray:
        import cvxpy as cp

        assert isinstance(problem.profile, MaxSharpe)
        excess = problem.mean.to_numpy(dtype="float64") - problem.profile.risk_free_rate
        if not (excess > 0).any():
            raise OptimizationError(
                "custom max_sharpe: no atom's expected return exceeds the risk-free rate"
            )
        cov = scaled_covariance(problem)
        y, kappa = cp.Variable(problem.n), cp.Variable()
        constraints = [excess @ y == 1, y >= 0, kappa >= 0, cp.sum(y) == kappa]
        constraints.append(y <= problem.max_weight * kappa)
        if problem.cluster_cap is not None and problem.clusters is not None:
            members, _ = problem.cluster_matrix()
            constraints.append(members @ y <= problem.cluster_cap * kappa)
        if problem.beta_tolerance is not None and problem.betas is not None:
            beta = problem.betas.to_numpy(dtype="float64")
            constraints += [
                beta @ y <= problem.beta_tolerance * kappa,
                beta @ y >= -problem.beta_tolerance * kappa,
            ]
        prog = cp.Problem(cp.Minimize(cp.quad_form(y, cp.psd_wrap(cov))), constraints)
        return _solved(prog, y, problem)  # w = y / Σy

    def _risk_parity(self, problem: AllocationProblem) -> np.ndarray:
        import cvxpy as cp

        cov = scaled_covariance(problem)
        n = problem.n
        y = cp.Variable(n, pos=True)
        objective = 0.5 * cp.quad_form(y, cp.psd_wrap(cov)) - cp.sum(cp.log(y)) / n
        prog = cp.Problem(cp.Minimize(objective))
        try:
            prog.solve(solver=cp.CLARABEL, **CLARABEL_OPTIONS)
        except cp.SolverError as err:
            raise OptimizationError(
                f"custom risk_parity on {n} atoms: solver failed ({err})"
            ) from err
        start = y.value if y.value is not None else np.full(n, 1.0 / np.sqrt(n))
        # The objective is smooth and strictly convex: Newton steps from the interior-point
        # answer reach machine precision even when the cone solver stopped 'inaccurate'.
        raw = _newton_erc(cov, np.clip(np.asarray(start, dtype="float64"), 1e-12, None))
        if raw is None:
            raise OptimizationError(
                f"custom risk_parity on {n} atoms: no convergence (solver status {prog.status!r})"
            )
        return raw / raw.sum()


def _newton_erc(cov: np.ndarray, y: np.ndarray, steps: int = 50) -> np.ndarray | None:
    """Minimise ``½ yᵀΣy − (1/n) Σ log y`` by damped Newton steps; None if it does not converge.

    At the minimum ``y_i (Σy)_i = 1/n`` for every i: equal risk contributions (Spinu 2013).
    """
    n = len(y)
    for _ in range(steps):
        grad = cov @ y - 1.0 / (n * y)
        if np.max(np.abs(grad * y)) < 1e-14:
            return y
        hess = cov + np.diag(1.0 / (n * y * y))
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while np.any(y - t * step <= 0):  # stay inside the positive orthant
            t *= 0.5
        y = y - t * step
    grad = cov @ y - 1.0 / (n * y)
    return y if np.max(np.abs(grad * y)) < 1e-10 else None


def _solved(prog, variable, problem: AllocationProblem) -> np.ndarray:
    """Solve with CLARABEL; an inaccurate or failed status is an `OptimizationError`."""
    import cvxpy as cp

    where = f"custom {problem.profile.name} on {problem.n} atoms"
    try:
        prog.solve(solver=cp.CLARABEL, **CLARABEL_OPTIONS)
    except cp.SolverError as err:
        raise OptimizationError(f"{where}: solver failed ({err})") from err
    if prog.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        raise OptimizationError(f"{where}: infeasible under {constraint_names(problem)}")
    if prog.status != cp.OPTIMAL or variable.value is None:
        raise OptimizationError(f"{where}: solver status {prog.status!r}, expected 'optimal'")
    out = np.clip(np.asarray(variable.value, dtype="float64"), 0.0, None)
    return out / out.sum()
