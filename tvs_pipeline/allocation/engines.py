"""Allocation engines: a closed registry of factories building long-only weight estimators."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from tvs_pipeline.errors import ConfigError, DataError, OptimizationError

__all__ = [
    "COVARIANCE_SHRINKAGE",
    "ENGINES",
    "PROFILES",
    "BaseAllocator",
    "CustomAllocator",
    "SkfolioAllocator",
    "make_allocator",
    "shrunk_covariance",
]

# Every engine implements every profile listed here (the AllocationProfile literal).
PROFILES: tuple[str, ...] = ("equal_weight", "min_variance")
# Fixed-intensity shrinkage toward the scaled identity (scikit-learn's ShrunkCovariance default).
COVARIANCE_SHRINKAGE = 0.1
# Tolerances: a weight below -NEGATIVE_TOL or above cap + CAP_TOL is an optimiser failure;
# smaller excursions are solver noise, clipped and renormalised.
NEGATIVE_TOL = 1e-8
CAP_TOL = 1e-8
SUM_TOL = 1e-6
# n * cap within this of 1 means the cap admits only the equal-weight point.
BINDING_TOL = 1e-12
SLSQP_OPTIONS = {"ftol": 1e-15, "maxiter": 1000}


def shrunk_covariance(returns: pd.DataFrame, shrinkage: float = COVARIANCE_SHRINKAGE) -> np.ndarray:
    """Sample covariance shrunk toward a scaled identity with a fixed intensity.

    ``Σ = (1 − δ)·S + δ·(tr S / n)·I`` where ``S`` is the maximum-likelihood sample
    covariance (divisor ``T``, as ``sklearn.covariance.empirical_covariance``) and ``δ`` the
    shrinkage. The target keeps the average variance and drops every correlation, so the
    estimate is positive definite even when atoms outnumber days, and min-variance weights are
    pulled slightly toward equal weight instead of loading on noise in the smallest
    eigenvalues. A fixed ``δ = 0.1`` (rather than Ledoit-Wolf's estimated intensity) is used so
    that the custom and skfolio engines solve the identical problem: skfolio's
    ``ShrunkCovariance(shrinkage=0.1)`` is this formula.

    Parameters
    ----------
    returns : pandas.DataFrame
        Index: market dates; columns: atom ids; fully observed daily simple returns.
    shrinkage : float
        Intensity ``δ`` in ``[0, 1]``; 0 returns the sample covariance.

    Returns
    -------
    numpy.ndarray
        ``(n, n)`` covariance, rows and columns in the order of ``returns.columns``.

    Raises
    ------
    ConfigError
        If ``shrinkage`` is outside ``[0, 1]``.

    References
    ----------
    Ledoit, O. and Wolf, M. (2004), "A well-conditioned estimator for large-dimensional
    covariance matrices", Journal of Multivariate Analysis 88(2), 365-411.
    scikit-learn, ``sklearn.covariance.ShrunkCovariance``.
    """
    if not 0.0 <= shrinkage <= 1.0:
        raise ConfigError(f"covariance shrinkage {shrinkage!r}: expected a value in [0, 1]")
    x = returns.to_numpy(dtype=float)
    centred = x - x.mean(axis=0)
    sample = centred.T @ centred / x.shape[0]
    target = np.trace(sample) / sample.shape[0]
    return (1.0 - shrinkage) * sample + shrinkage * target * np.eye(sample.shape[0])


class BaseAllocator:
    """Shared ``fit`` of the engine estimators: validation, the cap rule and weight checks.

    Subclasses set ``engine`` and implement ``_solve(returns, cap) -> ndarray``.
    """

    engine = ""

    def __init__(
        self,
        profile: str = "min_variance",
        max_weight: float = 1.0,
        shrinkage: float = COVARIANCE_SHRINKAGE,
    ) -> None:
        self.profile = profile
        self.max_weight = max_weight
        self.shrinkage = shrinkage

    def fit(self, returns: pd.DataFrame) -> BaseAllocator:
        """Learn long-only weights summing to one from a fully observed returns window.

        Parameters
        ----------
        returns : pandas.DataFrame
            Index: market dates; columns: atom ids (str); daily simple returns without NaN.

        Returns
        -------
        self
            With ``weights_`` (Series indexed by atom id, name ``weight``), ``max_weight_``
            (the cap applied), ``cap_relaxed_`` (True when ``max_weight * n < 1`` forced the
            cap up to ``1/n``) and ``n_obs_`` (rows used).

        Raises
        ------
        ConfigError
            If the profile is unknown or ``max_weight`` is outside ``(0, 1]``.
        DataError
            If ``returns`` is empty, holds a non-finite value, or has duplicate columns.
        OptimizationError
            If the optimiser fails or returns weights that break the constraints.
        """
        _check_profile(self.engine, self.profile)
        _check_max_weight(self.max_weight)
        _check_window(returns, self.engine)
        n = returns.shape[1]
        cap = float(self.max_weight)
        self.cap_relaxed_ = cap * n < 1.0 - BINDING_TOL
        if cap * n <= 1.0 + BINDING_TOL:
            # The cap admits one point only (or none): equal weight is the answer, no solve.
            self.max_weight_ = 1.0 / n
            raw = np.full(n, 1.0 / n)
        else:
            self.max_weight_ = cap
            raw = self._solve(returns, cap)
        weights = _validated(raw, self.max_weight_, f"{self.engine} {self.profile}")
        self.weights_ = pd.Series(weights, index=returns.columns.copy(), name="weight")
        self.n_obs_ = int(returns.shape[0])
        return self

    def _solve(self, returns: pd.DataFrame, cap: float) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(profile={self.profile!r}, max_weight={self.max_weight!r}, "
            f"shrinkage={self.shrinkage!r})"
        )


class CustomAllocator(BaseAllocator):
    """Hand-written engine: equal weight, and min variance by SLSQP on a shrunk covariance.

    Parameters
    ----------
    profile : {'equal_weight', 'min_variance'}
        What to optimise.
    max_weight : float
        Cap per atom in ``(0, 1]``; relaxed to ``1/n`` when ``max_weight * n < 1``.
    shrinkage : float
        Covariance shrinkage intensity (see :func:`shrunk_covariance`).

    Notes
    -----
    Min variance solves ``min_w wᵀΣw`` s.t. ``Σw = 1``, ``0 ≤ w ≤ cap`` with SciPy's SLSQP,
    analytic gradient ``2Σw``, starting from equal weight. ``Σ`` is divided by its mean
    variance first: the argmin is unchanged, and SLSQP's absolute ``ftol`` then means the
    same thing whatever the return scale.

    References
    ----------
    Kraft, D. (1988), "A software package for sequential quadratic programming",
    DFVLR-FB 88-28.
    """

    engine = "custom"

    def _solve(self, returns: pd.DataFrame, cap: float) -> np.ndarray:
        n = returns.shape[1]
        if self.profile == "equal_weight":
            return np.full(n, 1.0 / n)
        from scipy.optimize import minimize

        cov = shrunk_covariance(returns, self.shrinkage)
        scale = float(np.trace(cov)) / n
        if scale > 0.0:
            cov = cov / scale
        result = minimize(
            lambda w: float(w @ cov @ w),
            np.full(n, 1.0 / n),
            jac=lambda w: 2.0 * cov @ w,
            method="SLSQP",
            bounds=[(0.0, cap)] * n,
            constraints=[
                {"type": "eq", "fun": lambda w: np.sum(w) - 1.0, "jac": lambda w: np.ones(n)}
            ],
            options=SLSQP_OPTIONS,
        )
        if not result.success:
            raise OptimizationError(
                f"custom min_variance: SLSQP did not converge ({result.message}) on {n} atoms"
            )
        return np.asarray(result.x, dtype=float)


class SkfolioAllocator(BaseAllocator):
    """skfolio engine: ``EqualWeighted`` and ``MeanRisk`` minimising variance under a cap.

    Parameters
    ----------
    profile : {'equal_weight', 'min_variance'}
        What to optimise.
    max_weight : float
        Cap per atom in ``(0, 1]``, passed as ``max_weights``; relaxed to ``1/n`` when
        ``max_weight * n < 1``.
    shrinkage : float
        Intensity of skfolio's ``ShrunkCovariance`` prior (same estimator as the custom engine).
    solver : str
        CVXPY solver name.
    solver_params : dict or None
        Keyword arguments for the solver.

    Notes
    -----
    A solve whose CVXPY status is not ``optimal`` (``optimal_inaccurate`` included) is a
    failure here, although skfolio only warns: an inaccurate optimum is a wrong answer that
    looks right, and the fallback engine records why it stepped in.

    References
    ----------
    skfolio, ``skfolio.optimization.MeanRisk`` and ``EqualWeighted``.
    """

    engine = "skfolio"

    def __init__(
        self,
        profile: str = "min_variance",
        max_weight: float = 1.0,
        shrinkage: float = COVARIANCE_SHRINKAGE,
        solver: str = "CLARABEL",
        solver_params: dict | None = None,
    ) -> None:
        super().__init__(profile=profile, max_weight=max_weight, shrinkage=shrinkage)
        self.solver = solver
        self.solver_params = solver_params

    def _solve(self, returns: pd.DataFrame, cap: float) -> np.ndarray:
        import cvxpy as cp
        from skfolio.exceptions import SkfolioError
        from skfolio.measures import RiskMeasure
        from skfolio.moments import ShrunkCovariance
        from skfolio.optimization import EqualWeighted, MeanRisk, ObjectiveFunction
        from skfolio.prior import EmpiricalPrior

        if self.profile == "equal_weight":
            model = EqualWeighted()
        else:
            # Daily variances are ~1e-4: without rescaling, CLARABEL's absolute gap tolerance
            # leaves the weights loose by ~1e-4. Dividing by the mean variance (as the custom
            # engine does) leaves the argmin unchanged and tightens them to ~1e-7.
            mean_variance = (
                float(np.trace(shrunk_covariance(returns, self.shrinkage))) / returns.shape[1]
            )
            model = MeanRisk(
                objective_function=ObjectiveFunction.MINIMIZE_RISK,
                risk_measure=RiskMeasure.VARIANCE,
                prior_estimator=EmpiricalPrior(
                    covariance_estimator=ShrunkCovariance(shrinkage=self.shrinkage)
                ),
                min_weights=0.0,
                max_weights=cap,
                scale_objective=1.0 / mean_variance if mean_variance > 0.0 else None,
                solver=self.solver,
                solver_params=self.solver_params,
                save_problem=True,
            )
        where = f"skfolio {self.profile} on {returns.shape[1]} atoms"
        try:
            with warnings.catch_warnings():
                # The solver status is checked below; the warning would only repeat it.
                warnings.filterwarnings("ignore", "Solution may be inaccurate", UserWarning)
                model.fit(returns)
        except (SkfolioError, cp.SolverError, ValueError, ArithmeticError) as err:
            raise OptimizationError(f"{where}: {type(err).__name__}: {err}") from err
        if self.profile == "min_variance" and model.problem_.status != cp.OPTIMAL:
            raise OptimizationError(
                f"{where}: solver status {model.problem_.status!r}, expected 'optimal'"
            )
        return np.asarray(model.weights_, dtype=float)

    def __repr__(self) -> str:
        return (
            f"SkfolioAllocator(profile={self.profile!r}, max_weight={self.max_weight!r}, "
            f"shrinkage={self.shrinkage!r}, solver={self.solver!r}, "
            f"solver_params={self.solver_params!r})"
        )


def _custom(profile: str, max_weight: float) -> CustomAllocator:
    """Build the hand-written engine's estimator for ``profile`` (SciPy imported on fit)."""
    _check_profile("custom", profile)
    _check_max_weight(max_weight)
    return CustomAllocator(profile=profile, max_weight=max_weight)


def _skfolio(profile: str, max_weight: float) -> SkfolioAllocator:
    """Build the skfolio engine's estimator for ``profile``, importing skfolio here."""
    _check_profile("skfolio", profile)
    _check_max_weight(max_weight)
    try:
        import skfolio  # noqa: F401
    except ImportError as err:
        raise OptimizationError(f"engine skfolio: cannot import skfolio ({err})") from err
    return SkfolioAllocator(profile=profile, max_weight=max_weight)


# The closed registry, keyed by the AllocationEngine literal of the config schema.
ENGINES: dict[str, Callable[[str, float], BaseAllocator]] = {
    "custom": _custom,
    "skfolio": _skfolio,
}


def make_allocator(engine: str, profile: str, max_weight: float) -> BaseAllocator:
    """Build the estimator of one engine and profile from the registry.

    Parameters
    ----------
    engine : str
        A key of :data:`ENGINES`.
    profile : str
        One of :data:`PROFILES`.
    max_weight : float
        Cap per atom in ``(0, 1]``.

    Returns
    -------
    estimator
        Unfitted; ``fit(returns)`` learns ``weights_``.

    Raises
    ------
    ConfigError
        If the engine or the profile is unknown, or ``max_weight`` is out of range.
    OptimizationError
        If the engine's optimiser cannot be imported.
    """
    factory = ENGINES.get(engine)
    if factory is None:
        raise ConfigError(
            f"allocation engine {engine!r}: unknown engine (expected one of {sorted(ENGINES)})"
        )
    return factory(profile, max_weight)


def _check_profile(engine: str, profile: str) -> None:
    if profile not in PROFILES:
        raise ConfigError(
            f"allocation engine {engine!r}: unknown profile {profile!r} "
            f"(expected one of {list(PROFILES)})"
        )


def _check_max_weight(max_weight: float) -> None:
    if not 0.0 < max_weight <= 1.0:
        raise ConfigError(f"allocation max_weight {max_weight!r}: expected a value in (0, 1]")


def _check_window(returns: pd.DataFrame, engine: str) -> None:
    if not isinstance(returns, pd.DataFrame) or returns.shape[0] == 0 or returns.shape[1] == 0:
        shape = getattr(returns, "shape", None)
        raise DataError(f"{engine} fit: returns must be a non-empty DataFrame, got shape {shape}")
    if returns.columns.has_duplicates:
        dupes = sorted(map(str, returns.columns[returns.columns.duplicated()]))
        raise DataError(f"{engine} fit: duplicate atom columns {dupes}")
    values = returns.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        bad = sorted(map(str, returns.columns[~np.isfinite(values).all(axis=0)]))
        raise DataError(f"{engine} fit: non-finite returns in atoms {bad}, expected none")


def _validated(raw: np.ndarray, cap: float, where: str) -> np.ndarray:
    """Refuse weights that break the constraints; clip solver noise and restore Σw = 1."""
    w = np.asarray(raw, dtype=float)
    if not np.isfinite(w).all():
        raise OptimizationError(f"{where}: non-finite weights")
    if w.min() < -NEGATIVE_TOL or w.max() > cap + CAP_TOL:
        raise OptimizationError(
            f"{where}: weights {w.min():.3g}..{w.max():.3g} outside [0, {cap:.6g}]"
        )
    if abs(w.sum() - 1.0) > SUM_TOL:
        raise OptimizationError(f"{where}: weights sum to {w.sum():.9g}, expected 1")
    w = np.clip(w, 0.0, cap)
    gap = 1.0 - w.sum()
    if gap > 0.0:
        # Spread the shortfall over the room left under the cap, so no weight passes it.
        room = cap - w
        if room.sum() > 0.0:
            w = w + gap * room / room.sum()
    elif gap < 0.0:
        w = w + gap * w / w.sum()
    return w
