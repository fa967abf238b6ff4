"""The interface every market source implements, and the closed registry that builds them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Protocol, runtime_checkable

import pandas as pd

from tvs_pipeline.config.schema import ResolvedScanner
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.settings import TradingViewSettings

__all__ = ["BAR_COLUMNS", "SOURCES", "MarketSource", "make_source"]

BAR_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "volume")


@runtime_checkable
class MarketSource(Protocol):
    """What discovery and history need from a market.

    ``scan`` returns one row per listing with ``ticker`` (``EXCHANGE:SYMBOL``) and the columns
    of ``tvs_pipeline.market.query.DEFAULT_COLUMNS``, as known at the close of ``as_of``.
    ``bars`` returns ``BAR_COLUMNS`` with ``date`` the bar's market date; unknown symbols are
    absent from the result rather than an error, so one bad symbol never fails a batch.
    """

    def scan(self, scanner: ResolvedScanner, as_of: date) -> pd.DataFrame:
        """Rows of one scanner as of a date."""
        ...

    def bars(self, symbols: Iterable[str], start: date, end: date) -> pd.DataFrame:
        """Daily bars of the symbols with market dates in ``[start, end]``."""
        ...


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
