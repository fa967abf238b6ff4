"""The cvxportfolio engine: one decision of its single-period optimisation policy."""

from __future__ import annotations

import cvxportfolio as cvx
import cvxpy as cp
import numpy as np
import pandas as pd
from cvxportfolio.errors import DataError, PortfolioOptimizationError, ProgramInfeasible

from tvs_pipeline.allocation.engines.custom import scaled_covariance
from tvs_pipeline.allocation.problem import AllocationProblem, constraint_names
from tvs_pipeline.errors import OptimizationError

__all__ = ["CvxportfolioEngine"]

SOLVER = "CLARABEL"
# cvxportfolio's holdings vector ends with a cash account, under this key (lengthened with
# underscores in the unlikely case an atom has it).
CASH = "__cash__"
# `Policy.execute` needs a decision time; the data here are constants, so any time serves.
EPOCH = pd.Timestamp("1970-01-01")


class CvxportfolioEngine:
    """cvxportfolio's policies, executed once on the shared covariance without market data.

    Each profile is a cvxportfolio policy run by ``policy.execute(h, market_data=None, t=t)``
    (documented since cvxportfolio 1.4: no market data server, every input given). ``h`` is the
    current holdings in value with the cash account last: the problem's holdings, the rest in
    cash, total value 1 (all cash when there are none); the returned trade ``u`` gives the
    weights ``h + u``. ``t`` is the window's last date; nothing here depends on it.

    ``min_variance``
        ``SinglePeriodOptimization(−FullCovariance(Σ/s) − TransactionCost(a=cost/s, b=None),
        [LongOnly(), NoCash(), MaxWeights(cap), …], include_cash_return=False,
        solver="CLARABEL", fallback_solver=None)``: ``Σ`` is the shared covariance as a
        constant frame, ``s`` its mean variance (`scaled_covariance`: the argmin is unchanged,
        and on the raw ~1e-4 scale the solver's absolute tolerances would leave the weights
        loose by ~1e-4). ``NoCash``
        with ``LongOnly`` is the long-only budget ``Σw = 1`` (it implies ``LeverageLimit(1)``).
        ``TransactionCost``'s linear term ``a·|z|`` on the trade weights ``z = w − h`` prices
        turnover like the reference engine; it is left out without holdings or cost. Cluster
        caps are ``FactorMaxLimit`` on the atoms x clusters membership frame, the beta band a
        ``FactorMaxLimit`` and a ``FactorMinLimit`` on the betas. No fallback solver: a failure
        is an error, never a silent SCS answer.
    ``equal_weight``
        The ``Uniform()`` policy (``1/n`` on the non-cash assets). It carries no constraint:
        ``1/n`` is within any feasible cap, and a broken cluster cap or beta band is met by the
        projection afterwards (``native`` describes ``min_variance``).

    Not offered: ``max_sharpe`` (cvxportfolio's single-period objectives are a utility
    ``ReturnsForecast − γ·risk``; the tangency ratio is no such objective, and picking ``γ``
    to mimic it would be our algorithm, not the library's), ``inverse_volatility``, ``hrp``
    and ``risk_parity`` (no such policy or objective).
    """

    name = "cvxportfolio"
    profiles = frozenset({"min_variance", "equal_weight"})
    native = frozenset({"cluster_cap", "beta", "turnover"})

    def solve(self, problem: AllocationProblem) -> np.ndarray:
        """Long-only weights for ``problem.profile``, in the atom order of ``problem``.

        Raises
        ------
        OptimizationError
            The constraints are infeasible (named) or cvxportfolio failed (its cause quoted).
        """
        where = f"cvxportfolio {problem.profile.name} on {problem.n} atoms"
        policy = cvx.Uniform() if problem.profile.name == "equal_weight" else _spo(problem)
        holdings = _holdings(problem)
        index = problem.returns.index
        t = index[-1] if isinstance(index, pd.DatetimeIndex) else EPOCH
        try:
            trades, _, _ = policy.execute(holdings, market_data=None, t=t)
        except ProgramInfeasible as err:
            raise OptimizationError(
                f"{where}: infeasible under {constraint_names(problem)} (ProgramInfeasible)"
            ) from err
        except (PortfolioOptimizationError, DataError, cp.SolverError) as err:
            raise OptimizationError(f"{where}: the library failed ({err})") from err
        weights = (holdings + trades).iloc[:-1].to_numpy(dtype="float64")
        if not np.isfinite(weights).all():
            raise OptimizationError(f"{where}: non-finite weights, expected finite")
        out = np.clip(weights, 0.0, None)
        if out.sum() <= 0:
            raise OptimizationError(f"{where}: weights sum to {out.sum():.3g}, expected 1")
        return out / out.sum()


def _holdings(problem: AllocationProblem) -> pd.Series:
    """Holdings in value (total 1) over the atoms and the cash account, cash last."""
    cash = CASH
    while cash in problem.atoms:
        cash += "_"
    h = pd.Series(0.0, index=[*problem.atoms, cash], dtype="float64")
    if problem.holdings is not None:
        h.iloc[:-1] = problem.holdings.to_numpy(dtype="float64")
    h.iloc[-1] = 1.0 - float(h.iloc[:-1].sum())
    return h


def _spo(problem: AllocationProblem) -> cvx.SinglePeriodOptimization:
    """The min-variance `SinglePeriodOptimization` of ``problem`` (see the class notes)."""
    atoms = problem.atoms
    cov = pd.DataFrame(scaled_covariance(problem), index=atoms, columns=atoms)
    objective = -cvx.FullCovariance(cov)
    if problem.holdings is not None and problem.cost_per_turnover > 0:
        scale = float(np.trace(problem.cov.to_numpy())) / problem.n
        a = problem.cost_per_turnover / scale if scale > 0 else problem.cost_per_turnover
        objective = objective - cvx.TransactionCost(a=a, b=None)
    constraints = [cvx.LongOnly(), cvx.NoCash(), cvx.MaxWeights(problem.max_weight)]
    if problem.cluster_cap is not None and problem.clusters is not None:
        members, ids = problem.cluster_matrix()
        exposure = pd.DataFrame(members.T, index=atoms, columns=[str(c) for c in ids])
        constraints.append(cvx.FactorMaxLimit(exposure, np.full(len(ids), problem.cluster_cap)))
    if problem.beta_tolerance is not None and problem.betas is not None:
        tolerance = float(problem.beta_tolerance)
        constraints += [
            cvx.FactorMaxLimit(problem.betas, tolerance),
            cvx.FactorMinLimit(problem.betas, -tolerance),
        ]
    return cvx.SinglePeriodOptimization(
        objective,
        constraints,
        include_cash_return=False,
        fallback_solver=None,
        solver=SOLVER,
    )
