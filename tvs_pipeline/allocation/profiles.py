"""Risk profiles as values: each declares its objective, estimators and knobs once.

An engine translates a profile into its library (`tvs_pipeline.allocation.engines`) or refuses
it by name; no engine decides what a profile means. docs/methodology.md, section 10, gives each
profile's formula and the reason for each default.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.parameters import Parameters

__all__ = [
    "PROFILES",
    "Barbell",
    "EqualWeight",
    "Estimation",
    "Hrp",
    "InverseVolatility",
    "MaxSharpe",
    "MinVariance",
    "Profile",
    "RiskParity",
    "make_profile",
]

CovarianceKind = Literal["sample", "ledoit_wolf", "shrunk"]
Linkage = Literal["ward", "single", "complete", "average"]


class Estimation(Parameters):
    """How the moments a profile reads are estimated from the window's daily returns.

    Attributes
    ----------
    covariance : {"shrunk", "ledoit_wolf", "sample"}
        ``shrunk``: scikit-learn's ``ShrunkCovariance`` with a fixed ``shrinkage`` toward the
        scaled identity (the default: every engine solves the identical problem, and it stays
        positive definite when atoms outnumber days); ``ledoit_wolf``: the Ledoit-Wolf
        estimated intensity; ``sample``: the maximum-likelihood sample covariance.
    shrinkage : float
        Intensity of ``shrunk`` (0.1).
    """

    covariance: CovarianceKind = "shrunk"
    shrinkage: float = Field(0.1, ge=0, le=1)


class Profile(Parameters):
    """A risk profile: what to optimise, from which estimates.

    ``reads_covariance`` / ``reads_mean`` say which moments the profile needs, so the shared
    estimator computes only those.
    """

    name: ClassVar[str] = ""
    reads_covariance: ClassVar[bool] = True
    reads_mean: ClassVar[bool] = False

    estimation: Estimation = Field(default_factory=Estimation)


class EqualWeight(Profile):
    """``w_i = 1/n``: the yardstick, and the answer when nothing can be estimated."""

    name: ClassVar[str] = "equal_weight"
    reads_covariance: ClassVar[bool] = False


class InverseVolatility(Profile):
    """``w_i ∝ 1/σ_i``: each atom's weight inverse to its volatility, correlations ignored."""

    name: ClassVar[str] = "inverse_volatility"


class MinVariance(Profile):
    """``min wᵀΣw`` over the long-only, capped simplex."""

    name: ClassVar[str] = "min_variance"


class MaxSharpe(Profile):
    """``max (μᵀw − r_f) / √(wᵀΣw)`` over the long-only, capped simplex (the tangency book).

    Attributes
    ----------
    risk_free_rate : float
        Daily risk-free rate ``r_f`` (0).
    """

    name: ClassVar[str] = "max_sharpe"
    reads_mean: ClassVar[bool] = True

    risk_free_rate: float = Field(0.0, ge=-0.01, le=0.01)


class RiskParity(Profile):
    """Equal risk contribution: ``w_i (Σw)_i = wᵀΣw / n`` for every atom (long-only)."""

    name: ClassVar[str] = "risk_parity"


class Hrp(Profile):
    """Hierarchical risk parity (López de Prado 2016) on the correlation distance.

    Distance ``√(½(1 − ρ))``, a ``linkage`` tree, its leaf order, and recursive bisection
    weighting each half by the inverse of its inverse-variance portfolio's variance.

    Attributes
    ----------
    linkage : {"ward", "single", "complete", "average"}
        How the tree is built ("ward", the selection stage's linkage).
    """

    name: ClassVar[str] = "hrp"

    linkage: Linkage = "ward"


class Barbell(Profile):
    """Capital segmentation: a safe core and a small aggressive sleeve.

    The aggressive sleeve holds the ``aggressive_count`` atoms with the highest selection
    score, equally weighted, with ``1 − core_share`` of the capital. The core is the remaining
    atoms whose volatility is at or below their median (the lowest-risk half, at least two),
    weighted by the ``core`` profile with ``core_share``. Other atoms get no weight.

    Attributes
    ----------
    core : {"min_variance", "hrp"}
        The core's profile ("min_variance").
    core_share : float
        Capital in the core (0.9: the 90/10 split).
    aggressive_count : int
        Atoms in the aggressive sleeve (2).
    """

    name: ClassVar[str] = "barbell"

    core: Literal["min_variance", "hrp"] = "min_variance"
    core_share: float = Field(0.9, ge=0.5, lt=1)
    aggressive_count: int = Field(2, ge=1, le=20)

    def core_profile(self) -> Profile:
        """The core's profile, with the barbell's estimation."""
        return PROFILES[self.core](estimation=self.estimation)


PROFILES: dict[str, type[Profile]] = {
    cls.name: cls
    for cls in (EqualWeight, InverseVolatility, MinVariance, MaxSharpe, RiskParity, Hrp, Barbell)
}


def make_profile(name: str, **options: object) -> Profile:
    """The profile named ``name`` with its options (defaults when omitted).

    Raises
    ------
    ConfigError
        Unknown profile (the message lists the known ones), or a bad option.
    """
    cls = PROFILES.get(name)
    if cls is None:
        raise ConfigError(f"allocation profile {name!r}: unknown (known: {', '.join(PROFILES)})")
    return cls.build(options, f"allocation profile {name}")
