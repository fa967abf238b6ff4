"""Every selection parameter with its default, validated once: what ``select(**params)`` takes."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.selection.clustering import DEFAULT_LOOKBACKS
from tvs_pipeline.selection.features import FeatureParams
from tvs_pipeline.selection.scoring import (
    DEFAULT_CARS_WEIGHTS,
    DEFAULT_FRAGILITY_PENALTY,
    DEFAULT_WEIGHTS,
    check_weights,
)
from tvs_pipeline.selection.vetoes import VetoThresholds

__all__ = ["DEFAULT_MIN_POOL", "DEFAULT_TOP_N", "SelectionParams"]

DEFAULT_TOP_N = 2
DEFAULT_MIN_POOL = 15
_VETO_DEFAULTS = VetoThresholds()
_FEATURE_DEFAULTS = FeatureParams()


@dataclass(frozen=True)
class SelectionParams:
    """The flat parameter set of `select`; the profile's ``selection:`` block maps onto it.

    Attributes
    ----------
    top_n : int
        Winners per cluster and direction (2).
    min_pool : int
        HTR stops at the first stage with at least this many winners (15).
    entropy_order, entropy_delay, efficiency_window, hurst_min_lag, hurst_max_lag,
    stress_windows, stress_length
        Feature frame (`FeatureParams`).
    entropy_max, efficiency_min, hurst_low, hurst_high, toxic_hurst, survival_min, min_obs,
    entropy_hard_stop
        Vetoes (`VetoThresholds`).
    cluster_lookbacks, cluster_shrinkage, cluster_threshold, max_clusters
        Clustering (`cluster_listings`).
    weights, cars_weights : mapping
        Log-MPS exponents and CARS weights by metric (partial overrides of the defaults).
    fragility_penalty : float
        Largest share of a Log-MPS score the fragility penalty takes (0.5).
    """

    top_n: int = DEFAULT_TOP_N
    min_pool: int = DEFAULT_MIN_POOL
    entropy_order: int = _FEATURE_DEFAULTS.entropy_order
    entropy_delay: int = _FEATURE_DEFAULTS.entropy_delay
    efficiency_window: int | None = _FEATURE_DEFAULTS.efficiency_window
    hurst_min_lag: int = _FEATURE_DEFAULTS.hurst_min_lag
    hurst_max_lag: int = _FEATURE_DEFAULTS.hurst_max_lag
    stress_windows: int = _FEATURE_DEFAULTS.stress_windows
    stress_length: int = _FEATURE_DEFAULTS.stress_length
    entropy_max: float = _VETO_DEFAULTS.entropy_max
    efficiency_min: float = _VETO_DEFAULTS.efficiency_min
    hurst_low: float = _VETO_DEFAULTS.hurst_low
    hurst_high: float = _VETO_DEFAULTS.hurst_high
    toxic_hurst: float = _VETO_DEFAULTS.toxic_hurst
    survival_min: float = _VETO_DEFAULTS.survival_min
    min_obs: int = _VETO_DEFAULTS.min_obs
    entropy_hard_stop: float = _VETO_DEFAULTS.entropy_hard_stop
    cluster_lookbacks: tuple[int, ...] = DEFAULT_LOOKBACKS
    cluster_shrinkage: float = 0.05
    cluster_threshold: float = 0.5
    max_clusters: int = 25
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    cars_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CARS_WEIGHTS))
    fragility_penalty: float = DEFAULT_FRAGILITY_PENALTY

    def __post_init__(self) -> None:
        if self.top_n < 1:
            raise ConfigError(f"selection: top_n {self.top_n} must be at least 1")
        if self.min_pool < 0:
            raise ConfigError(f"selection: min_pool {self.min_pool} must be >= 0")
        if self.efficiency_window is not None and self.efficiency_window < 2:
            raise ConfigError(f"selection: efficiency_window {self.efficiency_window} must be >= 2")
        if self.stress_windows < 0 or self.stress_length < 2:
            raise ConfigError(
                f"selection: stress_windows {self.stress_windows} must be >= 0 and "
                f"stress_length {self.stress_length} >= 2"
            )
        object.__setattr__(self, "cluster_lookbacks", tuple(int(x) for x in self.cluster_lookbacks))
        object.__setattr__(self, "weights", check_weights(self.weights, DEFAULT_WEIGHTS, "weights"))
        object.__setattr__(
            self, "cars_weights", check_weights(self.cars_weights, DEFAULT_CARS_WEIGHTS, "cars")
        )
        self.features()  # validates the embedding and lags
        self.thresholds()  # validates the veto thresholds

    @classmethod
    def from_kwargs(cls, params: Mapping[str, object]) -> SelectionParams:
        """Build from keyword parameters; an unknown name raises with a suggestion.

        Raises
        ------
        ConfigError
            Unknown parameter (``did you mean``), or a value out of range.
        """
        known = [f.name for f in fields(cls)]
        for name in params:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"selection: unknown parameter {name!r}{hint}")
        try:
            return cls(**params)  # type: ignore[arg-type]
        except ConfigError:
            raise
        except (TypeError, ValueError) as err:  # a value of the wrong type, e.g. "a" for an int
            raise ConfigError(f"selection: bad parameter value ({err})") from err

    def features(self) -> FeatureParams:
        """The feature-frame parameters."""
        return FeatureParams(
            entropy_order=self.entropy_order,
            entropy_delay=self.entropy_delay,
            efficiency_window=self.efficiency_window,
            hurst_min_lag=self.hurst_min_lag,
            hurst_max_lag=self.hurst_max_lag,
            stress_windows=self.stress_windows,
            stress_length=self.stress_length,
        )

    def thresholds(self) -> VetoThresholds:
        """The stage-1 veto thresholds."""
        return VetoThresholds(
            entropy_max=self.entropy_max,
            efficiency_min=self.efficiency_min,
            hurst_low=self.hurst_low,
            hurst_high=self.hurst_high,
            toxic_hurst=self.toxic_hurst,
            survival_min=self.survival_min,
            min_obs=self.min_obs,
            entropy_hard_stop=self.entropy_hard_stop,
        )

    def as_dict(self) -> dict[str, object]:
        """Every parameter by name (weights as plain dicts)."""
        return asdict(self)
