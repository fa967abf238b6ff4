"""Incremental history sync: which bars to fetch for a day, and the fetch itself."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np
import pandas as pd

from tvs_pipeline.errors import DataError, LookAheadError
from tvs_pipeline.funnel.calendars import market_date
from tvs_pipeline.funnel.source import BAR_COLUMNS, MarketSource
from tvs_pipeline.lake.storage import as_day

__all__ = [
    "FAILURE_COLUMNS",
    "STORED_BAR_COLUMNS",
    "HistorySync",
    "advance_last_stored",
    "assert_not_after",
    "days_between",
    "failure_table",
    "fetch_bars",
    "fetch_failures",
    "plan_requests",
    "validate_bars",
]

STORED_BAR_COLUMNS = ("symbol", "market_date", "open", "high", "low", "close", "volume")
FAILURE_COLUMNS = ("symbol", "reason")
REQUEST_KINDS = ("full", "tail")


def assert_not_after(frame: pd.DataFrame, as_of: date, column: str = "market_date") -> None:
    """Raise LookAheadError if any row of ``frame`` is dated after ``as_of``."""
    if len(frame) and column in frame.columns:
        latest = pd.Timestamp(frame[column].max())
        if latest > pd.Timestamp(as_of):
            raise LookAheadError(f"{column} {latest.date()} is after as-of date {as_of}")


def plan_requests(
    symbols: list[str],
    last_stored: Mapping[str, pd.Timestamp],
    as_of: date,
    lookback_days: int,
    overlap_days: int,
) -> pd.DataFrame:
    """What to fetch on ``as_of``: the full window for a new symbol, a tail for a known one.

    Parameters
    ----------
    symbols : list of str
        Listings discovered on ``as_of``.
    last_stored : mapping
        Last stored market date per symbol, from partitions before ``as_of``.
    as_of : date
        The partition date; nothing after it is requested.
    lookback_days : int
        Calendar days of history a new symbol needs.
    overlap_days : int
        Days re-fetched before the last stored bar, to pick up vendor revisions.

    Returns
    -------
    DataFrame
        [symbol, start, end, kind] with kind ``full`` or ``tail``; start <= end == as_of.
    """
    end = pd.Timestamp(as_of)
    window_start = end - pd.Timedelta(days=lookback_days - 1)
    rows = []
    for symbol in sorted(set(symbols)):
        last = last_stored.get(symbol)
        if last is None or pd.isna(last) or pd.Timestamp(last) < window_start:
            rows.append((symbol, window_start, end, "full"))
        else:
            start = max(window_start, pd.Timestamp(last) - pd.Timedelta(days=overlap_days))
            rows.append((symbol, min(start, end), end, "tail"))
    return pd.DataFrame(rows, columns=["symbol", "start", "end", "kind"])


def validate_bars(
    frame: pd.DataFrame,
    source: str = "source",
    asset_classes: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Check a source's bar frame and return it in the stored layout.

    A source gives ``date`` (the market date), ``time`` (the bar-open instant in UTC, as
    TradingView does) or both (the demo market); ``time`` becomes ``market_date`` here, once, by
    ``calendars.market_date`` and the listing's asset class, whenever the asset classes are
    known (a ``date`` given beside it must agree). Structural faults (missing columns,
    non-numeric prices, duplicate bars, a ``date`` its ``time`` contradicts) are errors; value
    faults (a non-positive or absurd price) are kept for the health policy to judge.

    Returns
    -------
    DataFrame
        ``STORED_BAR_COLUMNS`` sorted by symbol and market_date.
    """
    if "time" in frame.columns and ("date" not in frame.columns or asset_classes is not None):
        dated = _market_dates(frame, asset_classes or {}, source)
        if "date" in frame.columns and not (as_day(frame["date"]) == dated).all():
            wrong = frame.loc[as_day(frame["date"]) != dated].iloc[0]
            raise DataError(
                f"bars from {source}: {wrong['symbol']} bar at {wrong['time']} is dated "
                f"{pd.Timestamp(wrong['date']).date()}; its open instant gives "
                f"{dated[wrong.name].date()}"
            )
        frame = frame.assign(date=dated)
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"bars from {source}: missing columns {missing}")
    out = frame.loc[:, list(BAR_COLUMNS)].rename(columns={"date": "market_date"})
    out["symbol"] = out["symbol"].astype("str")
    out["market_date"] = as_day(out["market_date"])
    for column in ("open", "high", "low", "close", "volume"):
        try:
            out[column] = pd.to_numeric(out[column]).astype("float64")
        except (TypeError, ValueError) as err:
            raise DataError(f"bars from {source}: column {column} is not numeric") from err
    dupes = out.duplicated(["symbol", "market_date"])
    if dupes.any():
        first = out.loc[dupes].iloc[0]
        raise DataError(
            f"bars from {source}: duplicate bar {first['symbol']} {first['market_date'].date()}"
        )
    return out.sort_values(["symbol", "market_date"], kind="mergesort").reset_index(drop=True)


def _market_dates(frame: pd.DataFrame, asset_classes: Mapping[str, str], source: str) -> pd.Series:
    """Market date of each bar from its UTC open instant and its listing's asset class."""
    classes = frame["symbol"].map(asset_classes)
    if classes.isna().any():
        unknown = sorted(set(frame.loc[classes.isna(), "symbol"]))[:3]
        raise DataError(f"bars from {source}: no asset class for {unknown} to date their bars")
    out = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    for asset_class, rows in frame.groupby(classes).groups.items():
        out.loc[rows] = market_date(frame.loc[rows, "time"], str(asset_class)).to_numpy()
    return out


def fetch_bars(
    market: MarketSource,
    requests: pd.DataFrame,
    as_of: date,
    asset_classes: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Fetch the planned requests, batching symbols that share a window.

    Returns
    -------
    DataFrame
        ``STORED_BAR_COLUMNS``: only bars inside each symbol's requested window, none after
        ``as_of``.
    """
    if requests.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in STORED_BAR_COLUMNS}).astype(
            {"symbol": "str", "market_date": "datetime64[ns]"}
        )
    frames = []
    for (start, end), group in requests.groupby(["start", "end"], sort=True):
        got = market.bars(list(group["symbol"]), start.date(), end.date())
        frames.append(validate_bars(got, type(market).__name__, asset_classes))
    bars = pd.concat(frames, ignore_index=True)
    window = requests.set_index("symbol")
    starts = bars["symbol"].map(window["start"]).to_numpy(dtype="datetime64[ns]")
    inside = (bars["market_date"].to_numpy() >= starts) & (
        bars["market_date"].to_numpy() <= np.datetime64(pd.Timestamp(as_of))
    )
    bars = bars.loc[inside].reset_index(drop=True)
    assert_not_after(bars, as_of)
    return bars


def fetch_failures(market: MarketSource) -> dict[str, str]:
    """Symbols the source failed to deliver since last asked, with the reason (and forget them).

    Only sources that keep a fetch report (``fetch_report(clear=True)``) have any; the demo
    market never fails a known symbol.
    """
    report = getattr(market, "fetch_report", None)
    if report is None:
        return {}
    frame = report(clear=True)
    failed = frame.loc[frame["status"] == "MISSING"]
    return dict(zip(failed["symbol"].astype("str"), failed["reason"].astype("str"), strict=True))


def advance_last_stored(
    last_stored: Mapping[str, pd.Timestamp], bars: pd.DataFrame
) -> dict[str, pd.Timestamp]:
    """The last-stored map after ``bars`` were written (used across a range run's days)."""
    updated = dict(last_stored)
    if len(bars):
        for symbol, last in bars.groupby("symbol")["market_date"].max().items():
            if symbol not in updated or last > updated[symbol]:
                updated[str(symbol)] = last
    return updated


class HistorySync:
    """The bar fetches of a run's days, in day order, each planned on what is stored before it.

    A day's requests depend on the last stored bar of each listing, and the bars fetched on
    one day of a range run are stored before the next: so the days run one after another, and
    this object carries the last stored dates from day to day.

    Parameters
    ----------
    market : MarketSource
        Where bars come from.
    last_stored : mapping
        Last stored market date per symbol, from the partitions before the run's first day
        (`last_stored_dates`).
    lookback_days, overlap_days : int
        As in `plan_requests`.

    Attributes
    ----------
    last_stored_ : dict
        The last stored market date per symbol after the days fetched so far.
    requests_ : dict
        Requests per kind (``full``, ``tail``) over the days fetched so far.
    """

    def __init__(
        self,
        market: MarketSource,
        last_stored: Mapping[str, pd.Timestamp],
        lookback_days: int,
        overlap_days: int,
    ) -> None:
        self.market = market
        self.lookback_days = lookback_days
        self.overlap_days = overlap_days
        self.last_stored_ = dict(last_stored)
        self.requests_ = dict.fromkeys(REQUEST_KINDS, 0)

    def fetch_day(
        self, discovered: pd.DataFrame, as_of: date
    ) -> tuple[pd.DataFrame, dict[str, str]]:
        """Plan and fetch one day's bars; call the days of a run in order.

        Parameters
        ----------
        discovered : DataFrame
            The ``discovery`` rows of day D (``symbol``, ``asset_class`` among others).
        as_of : date
            Day D; nothing after it is fetched.

        Returns
        -------
        tuple of (DataFrame, dict)
            `fetch_bars`' bars of the day, and `fetch_failures`: symbol -> reason.
        """
        found = discovered.drop_duplicates("symbol")
        requests = plan_requests(
            found["symbol"].tolist(),
            self.last_stored_,
            as_of,
            self.lookback_days,
            self.overlap_days,
        )
        classes = dict(zip(found["symbol"], found["asset_class"], strict=True))
        bars = fetch_bars(self.market, requests, as_of, classes)
        self.last_stored_ = advance_last_stored(self.last_stored_, bars)
        for kind in REQUEST_KINDS:
            self.requests_[kind] += int((requests["kind"] == kind).sum()) if len(requests) else 0
        return bars, fetch_failures(self.market)


def failure_table(failures: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    """The fetch failures of a run's days as one frame.

    Parameters
    ----------
    failures : mapping
        ISO fetch day -> symbol -> reason (the days without a failure may be left out).

    Returns
    -------
    DataFrame
        RangeIndex, one row per failed symbol and day, in day then symbol order: ``date``
        (the fetch day, ``datetime64[ns]``), then ``FAILURE_COLUMNS`` (str).
    """
    rows = [
        (pd.Timestamp(day), symbol, reason)
        for day, failed in sorted(failures.items())
        for symbol, reason in sorted(failed.items())
    ]
    frame = pd.DataFrame(rows, columns=["date", *FAILURE_COLUMNS])
    return frame.astype({"date": "datetime64[ns]", "symbol": "str", "reason": "str"})


def days_between(start: date, end: date) -> list[date]:
    """Calendar days from ``start`` to ``end`` inclusive."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
