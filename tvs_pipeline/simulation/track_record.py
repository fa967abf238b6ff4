"""The out-of-sample track record: each day, the stored book of the day before earns the day.

Partition D of a role's ``simulation`` reads the ``allocation`` partition of D−1 (decided at
that close, never recomputed), trades it from the held book it records, holds it over session D
(`hold_session`, the step the allocation's drift takes too) and compounds the ledger of D−1. It
uses only data known at the close of D.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd

from tvs_pipeline.errors import DataError
from tvs_pipeline.simulation.friction import FrictionModel
from tvs_pipeline.simulation.simulator import LEDGER_COLUMNS, Holdings, exposures, hold_session

__all__ = ["TRACK_COLUMNS", "TrackRecord"]

# The ledger's columns plus the universe's return of the day (the benchmark) and the day of
# the decision the book came from.
TRACK_COLUMNS = (*LEDGER_COLUMNS, "universe_return", "decided_on", "stale_positions")


class TrackRecord:
    """Compounds a role's ledger through the days of a run, in order.

    Parameters
    ----------
    friction : FrictionModel
        Charges the trade and the borrow (the allocation planned with the same model).
    previous : DataFrame, optional
        The stored ledger row of the day before the run's first day (without ``date``);
        None when the lake holds no earlier row: the record starts at equity 1.0.
    previous_day : date, optional
        The day of ``previous``.
    """

    def __init__(
        self,
        friction: FrictionModel,
        previous: pd.DataFrame | None = None,
        previous_day: date | None = None,
    ) -> None:
        self.friction = friction
        has_row = previous is not None and len(previous)
        self._equity = float(previous["equity"].iloc[-1]) if has_row else 1.0
        self._day = previous_day if has_row else None

    def record_day(
        self,
        book: pd.DataFrame,
        session_returns: pd.DataFrame,
        as_of: date,
        market: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """One ledger row: session ``as_of`` earned by the book decided the day before.

        Parameters
        ----------
        book : DataFrame
            The ``allocation`` rows of D−1 (`BookKeeper.decide_day`'s output; empty when
            nothing was decided). Its physical rows give the trade (``held_weight`` ->
            ``net_weight``), the entry prices (``since``) and the sleeves (borrow).
        session_returns : DataFrame
            ``symbol``, ``ret``: each listing's return of session D (absent: no session).
        as_of : date
            Day D.
        market : DataFrame, optional
            The ``market`` rows of day D: ``index_return`` of session D is the benchmark.

        Returns
        -------
        DataFrame
            One row, ``TRACK_COLUMNS``: the ledger (``gross``, ``trading_cost``, ``borrow``,
            ``cost``, ``net``, ``turnover``, ``equity``, exposures of the book held over D,
            ``session``, ``rebalanced``), ``universe_return`` (NaN when D is no universe
            session), ``decided_on`` (NaT without a book) and ``stale_positions`` (held
            listings without a return on a session day).

        Raises
        ------
        DataError
            The previous ledger row is not from the day before (a hole in the record).
        """
        if self._day is not None and (pd.Timestamp(as_of) - pd.Timestamp(self._day)).days != 1:
            raise DataError(
                f"simulation {as_of}: the last ledger row is from {self._day}, expected the "
                "day before; run the days between first (a track record has no holes)"
            )
        returns = pd.Series(
            session_returns["ret"].to_numpy(dtype="float64"),
            index=session_returns["symbol"].to_numpy(),
        )
        rows = np.flatnonzero(book["kind"].to_numpy() == "physical") if len(book) else []
        if len(rows):
            # Plain arrays: this runs once per day of a 500-day backfill, per role.
            symbols = book["symbol"].to_numpy()[rows]
            net_w = book["net_weight"].to_numpy(dtype="float64")[rows]
            held_w = book["held_weight"].to_numpy(dtype="float64")[rows]
            # The book's listings are the union of what was held and what is targeted.
            turnover = float(np.abs(net_w - held_w).sum())
            since = pd.Series(book["since"].to_numpy(dtype="float64")[rows], index=symbols)
            target = Holdings.of(pd.Series(net_w, index=symbols), since)
            days = float((pd.Timestamp(as_of) - pd.Timestamp(book["last_session"].iloc[0])).days)
            sleeves = pd.Series(book["sleeve"].to_numpy()[rows], index=symbols)
            rates = self.friction.borrow_rates(sleeves)
            decided_on = pd.Timestamp(as_of) - pd.Timedelta(days=1)
        else:
            target, turnover, days, rates = Holdings.flat(), 0.0, 1.0, 0.0
            decided_on = pd.NaT
        trading_cost = self.friction.cost(turnover)
        result = hold_session(
            target, returns, trading_cost=trading_cost, borrow_bps_per_year=rates, days=days
        )
        net = result.gross - trading_cost - result.borrow
        self._equity *= 1.0 + net
        self._day = as_of
        held = target.weights.index
        stale = [s for s in held if s not in returns.index] if result.session else []
        row = {
            "gross": result.gross,
            "trading_cost": trading_cost,
            "borrow": result.borrow,
            "cost": trading_cost + result.borrow,
            "net": net,
            "turnover": turnover,
            "equity": self._equity,
            **exposures(target.weights),
            # A trade on a day none of the book's listings trade still costs: count the day.
            "session": result.session or turnover > 0.0,
            "rebalanced": turnover > 0.0,
            "universe_return": _universe_return(market, as_of),
            "decided_on": decided_on,
            "stale_positions": ",".join(sorted(map(str, stale))),
        }
        columns = {name: [row[name]] for name in TRACK_COLUMNS}
        columns["decided_on"] = pd.DatetimeIndex([decided_on], dtype="datetime64[ns]")
        return pd.DataFrame(columns)


def _universe_return(market: pd.DataFrame | None, as_of: date) -> float:
    """The universe index's return of session ``as_of`` (NaN when it is not a session)."""
    if market is None or market.empty:
        return math.nan
    dates = market["market_date"].to_numpy(dtype="datetime64[ns]")
    today = np.flatnonzero(dates == np.datetime64(pd.Timestamp(as_of).as_unit("ns")))
    return float(market["index_return"].to_numpy()[today[0]]) if len(today) else math.nan


def stored_decisions(books: pd.DataFrame) -> pd.DataFrame:
    """The trades a role's stored books made, as `simulate` takes them.

    Parameters
    ----------
    books : DataFrame
        ``allocation`` rows of a span (``date`` and `BookKeeper.decide_day`'s columns).

    Returns
    -------
    DataFrame
        Index: the days whose book traded (``rebalance``), sorted; columns: the listings;
        the physical ``net_weight`` decided that day (0 where not held). Between those days
        the stored books are the drifted holdings, which `simulate` rebuilds.
    """
    physical = books.loc[(books["kind"] == "physical") & books["rebalance"].astype(bool)]
    wide = physical.pivot_table(
        index="date", columns="symbol", values="net_weight", aggfunc="sum", fill_value=0.0
    )
    wide.columns.name, wide.index.name = None, None
    return wide.sort_index().astype("float64")


def session_matrix(session_returns: pd.DataFrame, days: pd.DatetimeIndex) -> pd.DataFrame:
    """Each listing's return of each day, as `simulate` takes them: NaN where no session.

    Parameters
    ----------
    session_returns : DataFrame
        ``date``, ``symbol``, ``ret``: the return of session ``date`` of each listing.
    days : DatetimeIndex
        The calendar days of the index (every day, so that a day with no session is a row).
    """
    wide = session_returns.pivot_table(
        index="date", columns="symbol", values="ret", aggfunc="first"
    )
    wide.columns.name, wide.index.name = None, None
    return wide.reindex(days).astype("float64")
