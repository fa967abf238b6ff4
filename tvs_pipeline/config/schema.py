"""Strict Pydantic models for the L0-L4 layers and the run profile."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from tvs_pipeline.allocation.params import AllocationEngine, AllocationParams, AllocationProfile
from tvs_pipeline.selection.params import SelectionParams, default_timescale

__all__ = [
    "AllocationConfig",
    "FilterRule",
    "HealthConfig",
    "HygieneConfig",
    "ProfileConfig",
    "ResolvedProfile",
    "ResolvedScanner",
    "RunConfig",
    "ScannerConfig",
    "ScheduleConfig",
    "SelectionConfig",
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

# A layer named by file, or given inline (optionally with a `base:` file and overrides).
LayerRef = str | dict[str, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


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
        if self.op == "match":
            try:
                re.compile(self.value)
            except re.error as err:  # at load time, not at the scan
                raise ValueError(f"{self.column}: 'match' {self.value!r}: {err}") from None
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
    """L3: the logic and direction a scanner feeds, with opt-in gates (no block, no gate).

    ``horizon`` is the logic's holding horizon in sessions, the timescale of its atoms (the
    logic's default, `default_timescale`, when not stated: trend 20, rating 10, mean
    reversion 5).
    """

    description: str = ""
    logic: Logic
    direction: Direction
    horizon: int | None = Field(None, ge=1, le=250)
    gates: list[FilterRule] = Field(default_factory=list)

    @property
    def timescale(self) -> int:
        """The holding horizon in sessions: ``horizon``, else the logic's default."""
        return self.horizon if self.horizon is not None else default_timescale(self.logic)


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
    """History window and rebalance cadence."""

    lookback_days: int = Field(500, ge=30, le=5000)
    history_floor: int = Field(90, ge=2)
    # The book is re-optimised every `step` shared sessions, or sooner when its drift from the
    # last target (one-way, Σ|h − w|) exceeds `rebalance_drift` (docs/methodology.md §11).
    step: int = Field(20, ge=1)
    rebalance_drift: float = Field(0.10, gt=0, le=2)
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
    # The longest run of consecutive missing sessions a listing may show: isolated one-session
    # drop-outs are tolerated however many; two in a row corrupt returns and covariances.
    tolerated_gap_sessions: int = Field(1, ge=0)
    freshness_days: dict[AssetClass, int] = Field(
        default_factory=lambda: {"equity": 5, "etf": 5, "crypto": 2, "forex": 4, "futures": 5}
    )


class SelectionConfig(SelectionParams):
    """Which engines play champion and challenger, and every selection parameter.

    The parameters and their defaults are `tvs_pipeline.selection.params.SelectionParams`'
    (nested: ``features``, ``vetoes``, ``clustering``, ``weights``, ``cars_weights``, ``v4``);
    a profile states only what it changes (docs/methodology.md, section 8).
    """

    # The cutover is one line: swap these two. `engine` is accepted as the champion's old name.
    champion: SelectionEngine = Field(
        "htr_3_4", validation_alias=AliasChoices("champion", "engine")
    )
    challenger: SelectionEngine = "v4"

    @property
    def engine(self) -> str:
        """The champion's engine (the one the `selection` asset runs)."""
        return self.champion

    def engine_for(self, role: Literal["champion", "challenger"]) -> str:
        """The engine playing a role."""
        return self.champion if role == "champion" else self.challenger


class AllocationConfig(AllocationParams):
    """Which engine and profile weight the atoms, the risk controls, and what to fall back to.

    The fields and their defaults are `tvs_pipeline.allocation.params.AllocationParams`'; a
    profile states only what it changes (docs/methodology.md, section 10).
    """


class SimulationConfig(_Strict):
    """Friction of the track record: trading costs, and borrow or funding on shorts per sleeve."""

    slippage_bps: float = Field(5.0, ge=0)
    commission_bps: float = Field(1.0, ge=0)
    # Annual rate on a short's value, bps, by sleeve ("default" for the others): general-
    # collateral stock borrow ~0.5 %/yr; a crypto short pays margin interest or perpetual
    # funding, ~10 %/yr on average (docs/methodology.md §11).
    borrow_bps_per_year: dict[str, float] = Field(
        default_factory=lambda: {"default": 50.0, "crypto": 1000.0}
    )
    initial_capital: float = Field(1_000_000.0, gt=0)

    @model_validator(mode="after")
    def _borrow_rates(self) -> SimulationConfig:
        bad = {k: v for k, v in self.borrow_bps_per_year.items() if not v >= 0}
        if bad:
            raise ValueError(f"borrow_bps_per_year {bad}: expected rates >= 0")
        return self


class TournamentGrid(_Strict):
    """One grid of the tournament: selection engines x logics x allocation engines x profiles."""

    selection: list[SelectionEngine] = Field(min_length=1)
    engines: list[AllocationEngine] = Field(min_length=1)
    profiles: list[AllocationProfile] = Field(min_length=1)
    # The leaders re-run through cvxportfolio's simulator as a cross-check (each a back-test
    # of its own, seconds over 500 days): ten for research, fewer where a grid runs nightly.
    rerun: int = Field(10, ge=0)
    # Each entry restricts a cell's atoms to some logics ("trend", "mean_reversion+rating"), or
    # keeps every atom ("all"): users compare logics as they compare engines.
    logics: list[str] = Field(default_factory=lambda: ["all"], min_length=1)

    @model_validator(mode="after")
    def _logics_are_known(self) -> TournamentGrid:
        known = set(Logic.__args__)
        for entry in self.logics:
            names = entry.split("+")
            if entry != "all" and (not set(names) <= known or len(set(names)) != len(names)):
                raise ValueError(
                    f"logics {entry!r}: expected 'all' or logics joined by '+' from {sorted(known)}"
                )
        if len(set(self.logics)) != len(self.logics):
            raise ValueError(f"logics {self.logics}: an entry appears twice")
        return self


def _default_grids() -> dict[str, TournamentGrid]:
    return {
        # Small enough to run beside the nightly demo: 2 x 1 x 3 cells.
        "nightly": TournamentGrid(
            selection=["htr_3_4", "baseline"],
            engines=["custom"],
            profiles=["equal_weight", "min_variance", "risk_parity"],
            rerun=1,
        ),
        # Logics compared: the champion's atoms, each logic's alone (4 x 3 cells).
        "logics": TournamentGrid(
            selection=["htr_3_4"],
            engines=["custom"],
            profiles=["equal_weight", "min_variance", "risk_parity"],
            rerun=1,
            logics=["all", "trend", "mean_reversion", "rating"],
        ),
        # Research: every selection engine x every engine x every profile (175 cells).
        "full": TournamentGrid(
            selection=["htr_3_4", "cars_2_1", "liquid_htr", "baseline", "v4"],
            engines=["custom", "skfolio", "riskfolio", "pyportfolioopt", "cvxportfolio"],
            profiles=[
                "equal_weight",
                "inverse_volatility",
                "min_variance",
                "hrp",
                "max_sharpe",
                "risk_parity",
                "barbell",
            ],
        ),
    }


class TournamentConfig(_Strict):
    """The walk-forward tournament: its grids and the one run by default."""

    grid: str = "nightly"
    grids: dict[str, TournamentGrid] = Field(default_factory=_default_grids)

    @model_validator(mode="after")
    def _grid_is_defined(self) -> TournamentConfig:
        if self.grid not in self.grids:
            raise ValueError(f"grid {self.grid!r} is not one of the grids {sorted(self.grids)}")
        return self


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
    tournament: TournamentConfig = Field(default_factory=TournamentConfig)
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
    tournament: TournamentConfig
    schedule: ScheduleConfig

    def sleeve_calendars(self) -> dict[str, str]:
        """Map each sleeve to its calendar name."""
        return {s.sleeve: s.template.calendar for s in self.scanners}
