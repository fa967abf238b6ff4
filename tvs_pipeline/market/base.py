"""The closed registry of market sources (the interface they implement: `funnel.source`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.funnel.source import BAR_COLUMNS, MarketSource
from tvs_pipeline.settings import TradingViewSettings

__all__ = ["BAR_COLUMNS", "SOURCES", "MarketSource", "make_source"]


def _demo(
    seed: int, scale: int, shock_after: date | None, tradingview: TradingViewSettings | None
) -> MarketSource:
    from tvs_pipeline.market.demo import DemoMarket

    return DemoMarket(seed=seed, scale=scale, shock_after=shock_after)


def _tradingview(
    seed: int, scale: int, shock_after: date | None, tradingview: TradingViewSettings | None
) -> MarketSource:
    if shock_after is not None:
        raise ConfigError("source 'tradingview': shock_after is a demo-market option")
    from tvs_pipeline.market.tradingview import TradingViewSource

    return TradingViewSource(tradingview or TradingViewSettings())


# name -> factory(seed, scale, shock_after, tradingview settings); each imports its source lazily.
SourceFactory = Callable[[int, int, date | None, TradingViewSettings | None], MarketSource]
SOURCES: dict[str, SourceFactory] = {"demo": _demo, "tradingview": _tradingview}


def make_source(
    name: str,
    *,
    seed: int = 7,
    scale: int = 300,
    shock_after: date | None = None,
    tradingview: TradingViewSettings | None = None,
) -> MarketSource:
    """Build a market source by name from the closed registry.

    Parameters
    ----------
    name : str
        ``demo`` or ``tradingview``.
    seed, scale, shock_after
        Demo market options.
    tradingview : TradingViewSettings, optional
        Endpoints, token and pacing of the live source (``Settings.tradingview``); the
        defaults (the public service, anonymous) when omitted.

    Raises
    ------
    ConfigError
        The source is unknown, or an option does not apply to it.
    """
    factory = SOURCES.get(name)
    if factory is None:
        raise ConfigError(f"source {name!r}: unknown market source (known: {', '.join(SOURCES)})")
    return factory(seed, scale, shock_after, tradingview)
