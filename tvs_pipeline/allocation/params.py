"""The allocation block of a profile: engine, profile, caps and the risk controls' settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tvs_pipeline.allocation.profiles import PROFILES, Barbell, Estimation, Hrp, MaxSharpe, Profile
from tvs_pipeline.allocation.regime import RegimeThresholds
from tvs_pipeline.parameters import Parameters
from tvs_pipeline.selection.clustering import ClusteringParams

__all__ = [
    "AllocationEngine",
    "AllocationParams",
    "AllocationProfile",
    "ClusterCaps",
    "RegimeProfiles",
]

AllocationEngine = Literal["custom", "skfolio", "riskfolio", "pyportfolioopt", "cvxportfolio"]
AllocationProfile = Literal[
    "equal_weight",
    "inverse_volatility",
    "min_variance",
    "max_sharpe",
    "risk_parity",
    "hrp",
    "barbell",
]


class ClusterCaps(Parameters):
    """Cap on each cluster's total weight, by market regime (docs/methodology.md, section 10).

    ``quiet`` unset means QUIET is capped as NORMAL.
    """

    quiet: float | None = Field(None, gt=0, le=1)
    normal: float = Field(0.25, gt=0, le=1)
    turbulent: float = Field(0.20, gt=0, le=1)
    crisis: float = Field(0.15, gt=0, le=1)

    def for_regime(self, regime: str) -> float:
        """The cap in force under ``regime`` (QUIET, NORMAL, TURBULENT or CRISIS)."""
        label = regime.lower()
        if label == "quiet":
            return self.quiet if self.quiet is not None else self.normal
        return float(getattr(self, label))


class RegimeProfiles(Parameters):
    """The profile each market regime chooses when ``allocation.profile`` is ``auto``.

    Calm markets reward estimating returns (``max_sharpe``); when volatility rises the return
    estimates are the first thing to fail, so a turbulent book spreads risk without them
    (``risk_parity``) and a crisis book minimises it (``min_variance``). `tvs tournament`
    proposes a mapping from its per-regime leaderboard (docs/methodology.md, section 10.11).
    """

    quiet: AllocationProfile = "max_sharpe"
    normal: AllocationProfile = "max_sharpe"
    turbulent: AllocationProfile = "risk_parity"
    crisis: AllocationProfile = "min_variance"

    def for_regime(self, regime: str) -> str:
        """The profile of ``regime`` (QUIET, NORMAL, TURBULENT or CRISIS)."""
        return str(getattr(self, regime.lower()))


class AllocationParams(Parameters):
    """Every allocation parameter, nested as the profile's ``allocation:`` block writes it.

    The profile's own options and the moment estimation are the profile types'
    (`tvs_pipeline.allocation.profiles`), the regime thresholds the detector's, the atom
    clustering the selection's: each default is written once, on its type.

    Attributes
    ----------
    engine, profile : str
        The engine and the risk profile (``skfolio``, ``min_variance``); ``auto`` lets the
        day's regime choose the profile from ``regime_profiles``.
    fallback : list of str
        Engines tried in order when the first fails (``["custom"]``).
    estimation_days : int
        Rows of the estimation window (120).
    max_weight : float
        Cap per atom (0.25); raised to ``1/n`` when infeasible.
    estimation, max_sharpe, hrp, barbell
        Moment estimation and each profile's options.
    cluster_caps : ClusterCaps
        Cap on each Ward cluster's total weight by regime.
    clustering : ClusteringParams
        How the atoms' return streams are clustered into buckets.
    regime : RegimeThresholds
        The regime detector's windows and thresholds.
    feat_market_neutral : bool
        Hold the book's beta to the universe index within `beta_tolerance` (off).
    regime_profiles : RegimeProfiles
        The profile per regime under ``profile: auto``.
    """

    engine: AllocationEngine = "skfolio"
    profile: AllocationProfile | Literal["auto"] = "min_variance"
    fallback: list[AllocationEngine] = Field(default_factory=lambda: ["custom"])
    estimation_days: int = Field(120, ge=20)
    max_weight: float = Field(0.25, gt=0, le=1)
    estimation: Estimation = Field(default_factory=Estimation)
    max_sharpe: MaxSharpe = Field(default_factory=MaxSharpe)
    hrp: Hrp = Field(default_factory=Hrp)
    barbell: Barbell = Field(default_factory=Barbell)
    cluster_caps: ClusterCaps = Field(default_factory=ClusterCaps)
    clustering: ClusteringParams = Field(default_factory=ClusteringParams)
    regime: RegimeThresholds = Field(default_factory=RegimeThresholds)
    feat_market_neutral: bool = False
    regime_profiles: RegimeProfiles = Field(default_factory=RegimeProfiles)

    def for_regime(self, regime: str) -> AllocationParams:
        """These parameters with ``auto`` resolved to the profile ``regime`` chooses."""
        if self.profile != "auto":
            return self
        return self.updated(profile=self.regime_profiles.for_regime(regime))

    def profile_value(self) -> Profile:
        """The configured profile with its options and the block's estimation."""
        options = {"max_sharpe": self.max_sharpe, "hrp": self.hrp, "barbell": self.barbell}
        chosen = options.get(self.profile)
        values = chosen.model_dump() if chosen is not None else {}
        values["estimation"] = self.estimation.model_dump()
        return PROFILES[self.profile].build(values, f"allocation.{self.profile}")
