"""Strict Pydantic models for the L0-L4 layers and the run profile."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AllocationConfig",
    "CarsWeights",
    "ConvictionWeights",
    "FilterRule",
    "HealthConfig",
    "HygieneConfig",
    "ProfileConfig",
    "ResolvedProfile",
    "ResolvedScanner",
    "RunConfig",
    "ScannerConfig",
    "ScheduleConfig",
    "SelectionClusteringConfig",
    "SelectionConfig",
    "SelectionFeaturesConfig",
    "SelectionVetoConfig",
    "SimulationConfig",
    "StrategyConfig",
    "TemplateConfig",
    "UniverseConfig",
]

FilterOp = Literal[
    ">", ">=", "<", "<=", "==", "!=", "between", "not_between", "in", "not_in", "match"
]
Scalar = float | int | str | bool
Market = Literal[
    "america", "crypto", "forex", "futures", "cfd", "bonds", "uk", "germany", "india", "japan"
]
AssetClass = Literal["equity", "etf", "crypto", "forex", "futures"]
Logic = Literal["trend", "mean_reversion", "rating", "breakout", "momentum"]
Direction = Literal["LONG", "SHORT"]
SelectionEngine = Literal["htr_3_4", "cars_2_1", "liquid_htr", "baseline", "v4"]
AllocationEngine = Literal["custom", "skfolio"]
AllocationProfile = Literal["equal_weight", "min_variance"]
# A layer named by file, or given inline (optionally with a `base:` file and overrides).
LayerRef = str | dict[str, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class FilterRule(_Strict):
    """One scanner filter: ``column op value`` on a TradingView column.

    ``column`` may carry a timeframe suffix (``Recommend.All|240``, ``Perf.W|1W``).
    ``between``/``not_between`` take ``[low, high]``; ``in``/``not_in`` take a list;
    ``match`` takes a regular expression tested against the text value.
    """

    column: str = Field(min_length=1)
    op: FilterOp
    value: Scalar | list[Scalar]

    @model_validator(mode="after")
    def _value_fits_op(self) -> FilterRule:
        listy = isinstance(self.value, list)
        if self.op in ("between", "not_between") and not (listy and len(self.value) == 2):
            raise ValueError(f"{self.column}: '{self.op}' needs [low, high], got {self.value!r}")
        if self.op in ("in", "not_in") and not listy:
            raise ValueError(f"{self.column}: '{self.op}' needs a list, got {self.value!r}")
        if self.op not in ("between", "not_between", "in", "not_in") and listy:
            raise ValueError(f"{self.column}: '{self.op}' needs one value, got a list")
        if self.op == "match" and not isinstance(self.value, str):
            raise ValueError(f"{self.column}: 'match' needs a regular expression string")
        return self


class UniverseConfig(_Strict):
    """L0: the pool a scanner draws from (market, venues, instrument types, prefetch order)."""

    description: str = ""
    market: Market
    exchanges: list[str] = Field(default_factory=list)
    types: list[str] = Field(default_factory=list)
    symbols: list[str] = Field(default_factory=list)
    exclude_symbols: list[str] = Field(default_factory=list)
    filters: list[FilterRule] = Field(default_factory=list)
    sort_by: str = "Value.Traded"
    sort_order: Literal["asc", "desc"] = "desc"
    limit: int = Field(500, ge=1, le=100_000)


class HygieneConfig(_Strict):
    """L1: liquidity and technical floors every listing must clear."""

    description: str = ""
    filters: list[FilterRule] = Field(default_factory=list)


class TemplateConfig(_Strict):
    """L2: asset class, calendar, quote priorities and freshness for a kind of instrument."""

    description: str = ""
    asset_class: AssetClass
    calendar: str = Field(min_length=1)
    sessions_per_year: int = Field(ge=1, le=366)
    quote_priority: list[str] = Field(default_factory=list)
    exclude_stable_bases: bool = True


class StrategyConfig(_Strict):
    """L3: the logic and direction a scanner feeds, with opt-in gates (no block, no gate)."""

    description: str = ""
    logic: Logic
    direction: Direction
    gates: list[FilterRule] = Field(default_factory=list)


class ScannerConfig(_Strict):
    """L4: a composed entry point naming one file per layer, plus overrides and the final cut."""

    description: str = ""
    sleeve: str = Field(min_length=1)
    universe: LayerRef
    hygiene: LayerRef
    template: LayerRef
    strategy: LayerRef
    columns: list[str] = Field(default_factory=list)
    sort_by: str = "Value.Traded"
    sort_order: Literal["asc", "desc"] = "desc"
    limit: int = Field(50, ge=1, le=100_000)


class RunConfig(_Strict):
    """History window and walk-forward cadence."""

    lookback_days: int = Field(500, ge=30, le=5000)
    history_floor: int = Field(90, ge=2)
    step: int = Field(20, ge=1)
    revision_overlap_days: int = Field(3, ge=0, le=60)

    @model_validator(mode="after")
    def _floor_inside_lookback(self) -> RunConfig:
        if self.history_floor > self.lookback_days:
            raise ValueError(
                f"history_floor {self.history_floor} exceeds lookback_days {self.lookback_days}"
            )
        return self


class HealthConfig(_Strict):
    """Thresholds of the health policy (docs/methodology.md explains each)."""

    min_ok_share: float = Field(0.5, ge=0, le=1)
    max_daily_gain: float = Field(5.0, gt=0)
    max_daily_loss: float = Field(-0.99, gt=-1, lt=0)
    frozen_sessions: int = Field(5, ge=2)
    tolerated_missing_sessions: int = Field(1, ge=0)
    freshness_days: dict[str, int] = Field(
        default_factory=lambda: {"equity": 5, "etf": 5, "crypto": 2, "forex": 4, "futures": 5}
    )


class SelectionFeaturesConfig(_Strict):
    """How the selection feature frame reads each listing (docs/methodology.md, section 8)."""

    entropy_order: int = Field(3, ge=2, le=7)
    entropy_delay: int = Field(1, ge=1, le=10)
    efficiency_window: int | None = Field(None, ge=10)
    hurst_min_lag: int = Field(4, ge=4, le=64)
    hurst_max_lag: int = Field(64, ge=8, le=1024)
    stress_windows: int = Field(3, ge=0, le=20)
    stress_length: int = Field(20, ge=5, le=250)

    @model_validator(mode="after")
    def _two_lags(self) -> SelectionFeaturesConfig:
        if self.hurst_max_lag < 2 * self.hurst_min_lag:
            raise ValueError(
                f"hurst_max_lag {self.hurst_max_lag} must be at least 2 x hurst_min_lag "
                f"{self.hurst_min_lag}"
            )
        return self


class SelectionVetoConfig(_Strict):
    """Veto thresholds; each is stated with its white-noise null in docs/methodology.md."""

    entropy_max: float = Field(0.999, ge=0, le=1)
    efficiency_min: float = Field(0.08, ge=-1, le=1)
    hurst_band: list[float] = Field(default_factory=lambda: [0.495, 0.505])
    toxic_hurst: float = Field(0.55, ge=0, le=1)
    survival_min: float = Field(0.5, ge=0, le=1)
    min_obs: int = Field(60, ge=1)
    entropy_hard_stop: float = Field(0.999, ge=0, le=1)

    @model_validator(mode="after")
    def _band(self) -> SelectionVetoConfig:
        band = self.hurst_band
        if len(band) != 2 or not 0 <= band[0] <= band[1] <= 1:
            raise ValueError(f"hurst_band needs [low, high] with 0 <= low <= high <= 1, got {band}")
        return self


class SelectionClusteringConfig(_Strict):
    """Correlation-distance Ward clustering: lookbacks, shrinkage, cut and ceiling."""

    lookbacks: list[int] = Field(default_factory=lambda: [60, 120, 200], min_length=1)
    shrinkage: float = Field(0.05, ge=0, lt=1)
    threshold: float = Field(0.5, gt=0, le=10)
    max_clusters: int = Field(25, ge=1, le=1000)

    @model_validator(mode="after")
    def _lookbacks(self) -> SelectionClusteringConfig:
        if min(self.lookbacks) < 2:
            raise ValueError(f"lookbacks must all be >= 2, got {self.lookbacks}")
        return self


class ConvictionWeights(_Strict):
    """Log-MPS exponents of ``htr_3_4`` (0 drops a metric)."""

    momentum: float = Field(1.0, ge=0, le=10)
    efficiency: float = Field(2.0, ge=0, le=10)
    stability: float = Field(0.5, ge=0, le=10)
    entropy: float = Field(0.25, ge=0, le=10)
    hurst: float = Field(0.5, ge=0, le=10)
    adx: float = Field(0.25, ge=0, le=10)
    liquidity: float = Field(0.25, ge=0, le=10)
    antifragility: float = Field(0.25, ge=0, le=10)
    survival: float = Field(1.0, ge=0, le=10)
    kurtosis: float = Field(0.25, ge=0, le=10)


class CarsWeights(_Strict):
    """Additive weights of ``cars_2_1`` (normalised by their sum)."""

    momentum: float = Field(0.20, ge=0, le=1)
    efficiency: float = Field(0.25, ge=0, le=1)
    stability: float = Field(0.10, ge=0, le=1)
    entropy: float = Field(0.05, ge=0, le=1)
    hurst: float = Field(0.10, ge=0, le=1)
    adx: float = Field(0.05, ge=0, le=1)
    liquidity: float = Field(0.05, ge=0, le=1)
    antifragility: float = Field(0.05, ge=0, le=1)
    survival: float = Field(0.05, ge=0, le=1)
    fragility: float = Field(0.05, ge=0, le=1)
    kurtosis: float = Field(0.05, ge=0, le=1)

    @model_validator(mode="after")
    def _positive(self) -> CarsWeights:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one CARS weight must be positive")
        return self


class SelectionConfig(_Strict):
    """Which engine picks the subset, and its parameters (docs/methodology.md, section 8)."""

    # The cutover is one line: swap these two. `engine` is accepted as the champion's old name.
    champion: SelectionEngine = Field(
        "htr_3_4", validation_alias=AliasChoices("champion", "engine")
    )
    challenger: SelectionEngine = "v4"
    top_n: int = Field(2, ge=1, le=50)
    min_pool: int = Field(15, ge=0, le=1000)
    fragility_penalty: float = Field(0.5, ge=0, lt=1)
    features: SelectionFeaturesConfig = Field(default_factory=SelectionFeaturesConfig)
    vetoes: SelectionVetoConfig = Field(default_factory=SelectionVetoConfig)
    clustering: SelectionClusteringConfig = Field(default_factory=SelectionClusteringConfig)
    weights: ConvictionWeights = Field(default_factory=ConvictionWeights)
    cars_weights: CarsWeights = Field(default_factory=CarsWeights)

    @property
    def engine(self) -> str:
        """The champion's engine (the one the `selection` asset runs)."""
        return self.champion

    def engine_for(self, role: Literal["champion", "challenger"]) -> str:
        """The engine playing a role."""
        return self.champion if role == "champion" else self.challenger

    def params(self) -> dict[str, Any]:
        """The flat keyword parameters of ``tvs_pipeline.selection.select``."""
        vetoes = self.vetoes.model_dump()
        low, high = vetoes.pop("hurst_band")
        clustering = self.clustering
        return {
            "top_n": self.top_n,
            "min_pool": self.min_pool,
            "fragility_penalty": self.fragility_penalty,
            **self.features.model_dump(),
            **vetoes,
            "hurst_low": low,
            "hurst_high": high,
            "cluster_lookbacks": list(clustering.lookbacks),
            "cluster_shrinkage": clustering.shrinkage,
            "cluster_threshold": clustering.threshold,
            "max_clusters": clustering.max_clusters,
            "weights": self.weights.model_dump(),
            "cars_weights": self.cars_weights.model_dump(),
        }


class AllocationConfig(_Strict):
    """Which engine and profile weight the atoms, and what to fall back to."""

    engine: AllocationEngine = "skfolio"
    profile: AllocationProfile = "min_variance"
    fallback: list[AllocationEngine] = Field(default_factory=lambda: ["custom"])
    estimation_days: int = Field(120, ge=20)
    max_weight: float = Field(0.25, gt=0, le=1)


class SimulationConfig(_Strict):
    """Friction and cadence of the walk-forward simulation."""

    slippage_bps: float = Field(5.0, ge=0)
    commission_bps: float = Field(1.0, ge=0)
    initial_capital: float = Field(1_000_000.0, gt=0)


class ScheduleConfig(_Strict):
    """When the nightly job runs (UTC)."""

    hour: int = Field(2, ge=0, le=23)
    minute: int = Field(0, ge=0, le=59)


class ProfileConfig(_Strict):
    """A run profile: the scanners to run and every run parameter."""

    description: str = ""
    source: Literal["demo", "tradingview"] = "demo"
    seed: int = 7
    scanners: list[str] = Field(min_length=1)
    run: RunConfig = Field(default_factory=RunConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    allocation: AllocationConfig = Field(default_factory=AllocationConfig)
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)


class ResolvedScanner(_Strict):
    """An L4 scanner with every layer resolved and merged: what a market source executes."""

    name: str
    sleeve: str
    universe: UniverseConfig
    hygiene: HygieneConfig
    template: TemplateConfig
    strategy: StrategyConfig
    columns: list[str]
    sort_by: str
    sort_order: Literal["asc", "desc"]
    limit: int

    @property
    def filters(self) -> list[FilterRule]:
        """Every filter the query applies: universe, then hygiene, then strategy gates."""
        return [*self.universe.filters, *self.hygiene.filters, *self.strategy.gates]


class ResolvedProfile(_Strict):
    """A profile with its scanners resolved; ``tvs config show`` prints this."""

    name: str
    source: Literal["demo", "tradingview"]
    seed: int
    scanners: list[ResolvedScanner]
    run: RunConfig
    health: HealthConfig
    selection: SelectionConfig
    allocation: AllocationConfig
    simulation: SimulationConfig
    schedule: ScheduleConfig

    def sleeve_calendars(self) -> dict[str, str]:
        """Map each sleeve to its calendar name."""
        return {s.sleeve: s.template.calendar for s in self.scanners}
