"""Normalization: the bar window from the lake, returns on own sessions, aligned matrices."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from tvs_pipeline.errors import DataError
from tvs_pipeline.funnel.calendars import shared_sessions
from tvs_pipeline.funnel.history import STORED_BAR_COLUMNS, assert_not_after
from tvs_pipeline.lake.catalog import LakeReader

__all__ = [
    "PANEL_COLUMNS",
    "align_to_shared_sessions",
    "bar_window",
    "check_panel",
    "last_stored_dates",
    "panel_of_day",
    "read_bar_span",
    "read_bar_window",
    "returns_panel",
    "wide_returns",
]

PANEL_COLUMNS = ("symbol", "market_date", "ret")


def read_bar_span(
    reader: LakeReader, symbols: list[str], first_day: date, last_day: date, lookback_days: int
) -> pd.DataFrame:
    """Stored bars for every window ending in ``[first_day, last_day]``, in one query.

    Returns
    -------
    DataFrame
        ``STORED_BAR_COLUMNS`` plus ``date``, the partition (fetch day) each row came from;
        nothing from a partition after ``last_day``. ``bar_window`` cuts one day's window.
    """
    end = pd.Timestamp(last_day)
    start = pd.Timestamp(first_day) - pd.Timedelta(days=lookback_days - 1)
    wanted = pd.DataFrame({"symbol": pd.Series(sorted(set(symbols)), dtype="str")})
    frame = reader.read(
        "bars",
        columns=", ".join((*STORED_BAR_COLUMNS, "date")),
        where=(
            "date between ? and ? and market_date between ? and ? "
            "and symbol in (select symbol from wanted)"
        ),
        params=[start.date(), end.date(), start.to_pydatetime(), end.to_pydatetime()],
        frames={"wanted": wanted},
    )
    if frame is None:
        frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in (*STORED_BAR_COLUMNS, "date")})
        frame = frame.astype(
            {"symbol": "str", "market_date": "datetime64[ns]", "date": "datetime64[ns]"}
        )
    return frame


def bar_window(
    span: pd.DataFrame, as_of: date, lookback_days: int, symbols: list[str] | None = None
) -> pd.DataFrame:
    """One day's window from a span: bars known at the close of ``as_of``, latest fetch wins.

    Bars are stored in the partition of the day they were fetched; a bar re-fetched later (a
    vendor revision inside the overlap) is taken from the latest partition at or before
    ``as_of``. Partitions after ``as_of`` are never used.

    Returns
    -------
    DataFrame
        ``STORED_BAR_COLUMNS``, one row per symbol and market date with market dates in
        ``[as_of - lookback_days + 1, as_of]``, sorted.
    """
    end = pd.Timestamp(as_of)
    start = end - pd.Timedelta(days=lookback_days - 1)
    keep = (span["date"] <= end) & span["market_date"].between(start, end)
    if symbols is not None:
        keep &= span["symbol"].isin(symbols)
    frame = span.loc[keep].sort_values(["symbol", "market_date", "date"], kind="mergesort")
    frame = frame.drop_duplicates(["symbol", "market_date"], keep="last")
    frame = frame[list(STORED_BAR_COLUMNS)].reset_index(drop=True)
    assert_not_after(frame, as_of)
    return frame


def read_bar_window(
    reader: LakeReader, symbols: list[str], as_of: date, lookback_days: int
) -> pd.DataFrame:
    """Stored bars of ``symbols`` in the window ending ``as_of`` (see ``bar_window``)."""
    span = read_bar_span(reader, symbols, as_of, as_of, lookback_days)
    return bar_window(span, as_of, lookback_days)


def last_stored_dates(reader: LakeReader, before: date) -> dict[str, pd.Timestamp]:
    """Last stored market date per symbol over bars partitions strictly before ``before``."""
    frame = reader.read(
        "bars",
        columns="symbol, max(market_date) as last",
        where="date < ? group by symbol",
        params=[pd.Timestamp(before).date()],
    )
    if frame is None or frame.empty:
        return {}
    last = pd.to_datetime(frame["last"]).astype("datetime64[ns]")
    return dict(zip(frame["symbol"].astype("str"), last, strict=True))


def returns_panel(bars: pd.DataFrame, symbols: list[str] | None = None) -> pd.DataFrame:
    """Simple close-to-close returns on each listing's own sessions (long format).

    Returns
    -------
    DataFrame
        ``PANEL_COLUMNS``: ``ret`` on market_date is close(market_date) / close(previous own
        bar) - 1; a listing's first bar in the window has no return and no row.
    """
    frame = bars if symbols is None else bars.loc[bars["symbol"].isin(symbols)]
    frame = frame.sort_values(["symbol", "market_date"], kind="mergesort")
    ret = frame.groupby("symbol", sort=False)["close"].pct_change(fill_method=None)
    out = pd.DataFrame({"symbol": frame["symbol"], "market_date": frame["market_date"], "ret": ret})
    return out.dropna(subset=["ret"]).reset_index(drop=True)


def wide_returns(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel as a matrix: index market_date, one column per symbol, NaN off-session."""
    if panel.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], name="market_date"))
    wide = panel.pivot(index="market_date", columns="symbol", values="ret").sort_index()
    wide.columns.name = None
    return wide


def align_to_shared_sessions(wide: pd.DataFrame, calendars: Mapping[str, str]) -> pd.DataFrame:
    """Compound each column onto the sessions every calendar shares.

    A crypto weekend is folded into the next shared session (Monday's return is the product of
    Saturday's, Sunday's and Monday's), never dropped and never zero-filled.

    Parameters
    ----------
    wide : DataFrame
        Own-session returns, index market_date, columns symbols.
    calendars : mapping
        Calendar name per column.

    Returns
    -------
    DataFrame
        Index: shared sessions inside the frame's date range. A value is the product of the
        column's own returns since the previous shared session, so it is NaN on the first
        shared session and wherever the previous shared session precedes the column's first
        observation.
    """
    if wide.empty:
        return wide
    missing = [c for c in wide.columns if c not in calendars]
    if missing:
        raise DataError(f"align: no calendar for {missing[:3]}")
    names = sorted({calendars[c] for c in wide.columns})
    grid = shared_sessions(names, wide.index.min(), wide.index.max())
    # Each own session folds into the first shared session at or after it. Compounding only
    # inside a fold makes a value independent of where the frame starts (a ratio of running
    # wealth would carry the rounding of every earlier day), so two windows ending on
    # different days agree to the bit on the sessions they share.
    fold = np.searchsorted(grid.to_numpy(), wide.index.to_numpy(), side="left")
    inside = fold < len(grid)
    values = wide.to_numpy(dtype="float64")[inside]
    fold = fold[inside]
    observed = ~np.isnan(values)
    growth = pd.DataFrame(np.where(observed, 1.0 + values, 1.0)).groupby(fold).prod()
    plain = pd.DataFrame(np.where(observed, values, 0.0)).groupby(fold).sum()
    count = pd.DataFrame(observed.astype("int64")).groupby(fold).sum()
    every = pd.RangeIndex(len(grid))
    growth, plain, count = (f.reindex(every) for f in (growth, plain, count))
    # A fold of one session keeps that return exactly; a fold of none is a carried price (0).
    folded = np.where(count.to_numpy() == 1, plain.to_numpy(), growth.to_numpy() - 1.0)
    folded = np.where(count.fillna(0).to_numpy() == 0, 0.0, folded)
    # NaN until the previous shared session has an observation at or before it.
    seen = np.maximum.accumulate(np.nan_to_num(count.to_numpy(), nan=0.0) > 0, axis=0)
    started = np.vstack([np.zeros((1, wide.shape[1]), dtype=bool), seen[:-1]])
    aligned = pd.DataFrame(np.where(started, folded, np.nan), index=grid, columns=wide.columns)
    aligned.index.name = "market_date"
    return aligned


def panel_of_day(
    span: pd.DataFrame, lookback_days: int, listings: pd.DataFrame, as_of: date
) -> tuple[pd.DataFrame, list[str]]:
    """One day's returns panel of ``listings`` cut from a span, and its problems.

    Parameters
    ----------
    span : DataFrame
        Stored bars with their fetch day ``date`` (`read_bar_span`).
    lookback_days : int
        The window's length in calendar days.
    listings : DataFrame
        The listings of day D to build the panel of (``symbol`` among others): the OK rows
        of ``data_health``.
    as_of : date
        Day D.

    Returns
    -------
    tuple of (DataFrame, list of str)
        `returns_panel` of the day's window (``PANEL_COLUMNS``), and `check_panel`'s problems.
    """
    symbols = listings["symbol"].tolist()
    panel = returns_panel(bar_window(span, as_of, lookback_days, symbols))
    return panel, check_panel(panel, symbols, as_of)


def check_panel(panel: pd.DataFrame, ok_symbols: list[str], as_of: date) -> list[str]:
    """Problems that make a returns panel unusable (the blocking check's verdict).

    Returns
    -------
    list of str
        Empty when the panel holds only OK listings, finite returns, and nothing after as_of.
    """
    problems = []
    stray = sorted(set(panel["symbol"]) - set(ok_symbols))
    if stray:
        problems.append(f"{len(stray)} listings not OK in the panel: {stray[:5]}")
    if not np.isfinite(panel["ret"].to_numpy(dtype="float64")).all():
        problems.append("non-finite returns in the panel")
    if len(panel) and panel["market_date"].max() > pd.Timestamp(as_of):
        problems.append(f"returns dated after {as_of}")
    if panel.duplicated(["symbol", "market_date"]).any():
        problems.append("duplicate (symbol, market_date) rows")
    return problems
