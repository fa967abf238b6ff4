"""What the funnel needs from a market: the source protocol and the bar contract.

Discovery and history are written against this protocol; the sources in `tvs_pipeline.market`
implement it. It lives with its consumer so the dependency runs one way, market -> funnel (a
source reuses the funnel's calendars and indicators), never back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date
from typing import Protocol, runtime_checkable

import pandas as pd

from tvs_pipeline.config.schema import ResolvedScanner

__all__ = ["BAR_COLUMNS", "NOTE_LOG", "RETRY_LOG", "MarketSource"]

BAR_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "volume")
# A source announces each retry of a transient fault here, one WARNING line each
# (``<where>: retry <n>/<N> in <s> s: <reason>``); the Dagster shell shows them in the run's
# log and on the terminal.
RETRY_LOG = logging.getLogger("tvs_pipeline.market.retries")
# What a source says about the data it gives, one WARNING line each (a past day's universe
# rebuilt point in time, with its survivorship caveat); shown like the retries.
NOTE_LOG = logging.getLogger("tvs_pipeline.market.notes")


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
