"""Resources: the profile, the market source, the lake reader and the report folder."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from tvs_pipeline.config import ResolvedProfile, load_profile
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.lake.io_manager import LakeIOManagerResource
from tvs_pipeline.market.base import MarketSource, make_source
from tvs_pipeline.parallel import MIN_PARALLEL_CALLS, map_calls
from tvs_pipeline.settings import Settings, TradingViewSettings, load_settings

__all__ = [
    "WORKERS_TAG",
    "ComputeResource",
    "LakeResource",
    "MarketResource",
    "ProfileResource",
    "ReportResource",
    "build_resources",
    "resolved_profile",
]


WORKERS_TAG = "tvs/workers"


@lru_cache(maxsize=8)
def resolved_profile(name: str) -> ResolvedProfile:
    """The resolved profile ``name``, read once per process (definitions and runs share it)."""
    return load_profile(name)


@lru_cache(maxsize=4)
def _market(
    source: str,
    seed: int,
    scale: int,
    shock_after: str | None,
    tradingview: TradingViewSettings | None = None,
) -> MarketSource:
    shock = date.fromisoformat(shock_after) if shock_after else None
    return make_source(source, seed=seed, scale=scale, shock_after=shock, tradingview=tradingview)


class ProfileResource(dg.ConfigurableResource):
    """The run profile (a shipped name or a path to a YAML file)."""

    name: str = "demo"

    def resolved(self) -> ResolvedProfile:
        """The fully resolved profile (cached per process)."""
        return resolved_profile(self.name)


class MarketResource(dg.ConfigurableResource):
    """The market source; ``source`` empty means the profile's.

    ``shock_after`` replaces every bar after that date with a different random path (demo
    only): the look-ahead audit runs the same partition with and without it.
    """

    source: str = ""
    scale: int = 300
    shock_after: str = ""

    def market(self, profile: ResolvedProfile) -> MarketSource:
        """The source object (cached per process: the demo market builds its history once).

        The live source reads its endpoints and token from the environment here (``TVS_TV_*``
        through ``load_settings``), so the token never enters run config.
        """
        source = self.source or profile.source
        tradingview = load_settings().tradingview if source == "tradingview" else None
        return _market(source, profile.seed, self.scale, self.shock_after or None, tradingview)


class LakeResource(dg.ConfigurableResource):
    """Windowed DuckDB reads over the lake root."""

    root: str

    def reader(self) -> LakeReader:
        """A reader over the lake root."""
        return LakeReader(self.root)


class ReportResource(dg.ConfigurableResource):
    """Where human-readable reports are written, a folder per day (`report.report_path`)."""

    directory: str


class ComputeResource(dg.ConfigurableResource):
    """Where a step spreads its days: ``$TVS_WORKERS`` local processes, or a Dask cluster.

    ``scheduler`` is a Dask scheduler address (``$TVS_DASK_SCHEDULER``); when set, the days go
    to that cluster's workers instead of local processes (`tvs_pipeline.parallel`).
    """

    workers: int = 1
    min_calls: int = MIN_PARALLEL_CALLS
    scheduler: str = ""
    # A run tagged tvs/workers=N uses N local processes, whatever the code location's
    # $TVS_WORKERS: a chunked backfill gives the runs it starts side by side a share of the
    # cores each and a run alone all of them (`defs.backfill.run_chunked_backfill`).
    _run_workers: int = PrivateAttr(default=0)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Read the run's ``tvs/workers`` tag, if any."""
        run = context.run
        text = run.tags.get(WORKERS_TAG, "") if run is not None else ""
        self._run_workers = int(text) if text.isdigit() and int(text) > 0 else 0

    @property
    def run_workers(self) -> int:
        """The local processes this run spreads its days over (the tag's, else ``workers``)."""
        return self._run_workers or self.workers

    def map(
        self,
        function: Callable[..., Any],
        calls: Sequence[Mapping[str, Any]],
        shared: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """``[function(**shared, **call) for call in calls]``, over the workers when many."""
        return map_calls(function, calls, self.run_workers, self.min_calls, shared, self.scheduler)


def build_resources(
    settings: Settings,
    *,
    profile: str | None = None,
    source: str = "",
    scale: int = 300,
    shock_after: str = "",
    min_parallel_calls: int = MIN_PARALLEL_CALLS,
) -> dict[str, object]:
    """Every resource the definitions need, rooted at ``settings``."""
    return {
        "io_manager": LakeIOManagerResource(
            root=settings.lake_root,
            ledger_path=settings.ledger,
        ),
        "profile": ProfileResource(name=profile or settings.profile),
        "market": MarketResource(
            source=source or (settings.source or ""), scale=scale, shock_after=shock_after
        ),
        "lake": LakeResource(root=settings.lake_root),
        "reports": ReportResource(directory=str(settings.reports_dir)),
        "compute": ComputeResource(
            workers=settings.workers,
            min_calls=min_parallel_calls,
            scheduler=settings.dask_scheduler,
        ),
    }
