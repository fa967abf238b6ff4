"""Normalization: the bar window from the lake, returns on own sessions, aligned matrices."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from tvs_pipeline.errors import DataError
from tvs_pipeline.funnel.calendars import shared_sessions
from tvs_pipeline.funnel.history import STORED_BAR_COLUMNS, assert_not_after
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.lake.storage import (
    is_local,
    missing_days,
    partition_keys,
    partition_path,
    read_schema,
)

__all__ = [
    "BAR_FILE_TYPES",
    "PANEL_COLUMNS",
    "align_to_shared_sessions",
    "bar_window",
    "check_bar_partitions",
    "check_panel",
    "last_stored_dates",
    "panel_of_day",
    "read_bar_span",
    "read_bar_window",
    "returns_panel",
    "wide_returns",
]

PANEL_COLUMNS = ("symbol", "market_date", "ret")
# A stored bars file: exactly these columns (``STORED_BAR_COLUMNS``), of these Arrow types.
BAR_FILE_TYPES: dict[str, tuple[str, Callable[[pa.DataType], bool]]] = {
    "symbol": ("string", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
    "market_date": ("timestamp", lambda t: pa.types.is_timestamp(t) and t.tz is None),
    **{c: ("double", pa.types.is_float64) for c in ("open", "high", "low", "close", "volume")},
}
# Footers read at once from an object store (one request each); a local disk reads in turn.
REMOTE_SCHEMA_READS = 16


def check_bar_partitions(root: str, start: date, end: date) -> list[str]:
    """Check the ``bars`` partitions a read of ``[start, end]`` needs; return their keys.

    ``bars`` writes a partition every day, empty or not, and a listing's whole history sits
    in the partition of the day it was first fetched: a missing day silently drops those
    listings from every later window, and a file of another layout reads back (union by
    name) as nulls. So every day of the window from the lake's first bars day on must have
    its file, and every file must hold ``BAR_FILE_TYPES`` exactly. The lake's first day is
    the earliest of ``bars`` and ``fetch_failures`` (written beside it by the same step), so
    a deleted first file is a gap too. Costs one listing of each asset and one footer per
    file of the window; no rows are read.

    Parameters
    ----------
    root : str
        The lake root (a path or an fsspec URL).
    start, end : date
        The window's first and last partition day.

    Returns
    -------
    list of str
        The ISO keys of the window's partitions, in order (empty before the lake's first day).

    Raises
    ------
    DataError
        A day has no file (the first such day is named), or a file's columns or types differ
        from ``BAR_FILE_TYPES`` (the file is named with what was expected and found).
    """
    held = partition_keys(root, "bars")
    firsts = [keys[0] for keys in (held, partition_keys(root, "fetch_failures")) if keys]
    if not firsts or start > end:
        return []
    since = max(start, date.fromisoformat(min(firsts)))
    gaps = missing_days(held, since, end) if since <= end else []
    if gaps:
        more = f" (and {len(gaps) - 1} more days)" if len(gaps) > 1 else ""
        raise DataError(
            f"bars {gaps[0]}: partition missing{more}: {partition_path(root, 'bars', gaps[0])} "
            f"is needed by the window {start}..{end} (bars writes every day from the lake's "
            f"first, {min(firsts)}); rebuild it with `tvs backfill --start {gaps[0]} "
            f"--end {gaps[-1]}`"
        )
    window = [key for key in held if since.isoformat() <= key <= end.isoformat()]
    paths = [partition_path(root, "bars", key) for key in window]
    if is_local(root):
        schemas = [read_schema(path) for path in paths]
    else:
        with ThreadPoolExecutor(REMOTE_SCHEMA_READS) as pool:
            schemas = list(pool.map(read_schema, paths))
    for path, schema in zip(paths, schemas, strict=True):
        _check_bar_schema(path, schema)
    return window


def _check_bar_schema(path: str, schema: pa.Schema) -> None:
    """Raise a DataError naming ``path`` if its columns or types are not ``BAR_FILE_TYPES``."""
    found = {field.name: field.type for field in schema}
    wrong = [
        f"{name} {kind} (found {found[name] if name in found else 'nothing'})"
        for name, (kind, accepts) in BAR_FILE_TYPES.items()
        if name not in found or not accepts(found[name])
    ]
    extra = [name for name in found if name not in BAR_FILE_TYPES]
    if wrong or extra:
        problems = ", ".join(wrong + [f"unexpected column {name}" for name in extra])
        raise DataError(f"bars file {path}: not the stored bar layout: expected {problems}")


def read_bar_span(
    reader: LakeReader, symbols: list[str], first_day: date, last_day: date, lookback_days: int
) -> pd.DataFrame:
    """Stored bars for every window ending in ``[first_day, last_day]``, in one query.

    Returns
    -------
    DataFrame
        ``STORED_BAR_COLUMNS`` plus ``date``, the partition (fetch day) each row came from;
        nothing from a partition after ``last_day``. ``bar_window`` cuts one day's window.

    Raises
    ------
    DataError
        A partition of the span is missing or not in the stored layout
        (`check_bar_partitions`).
    """
    end = pd.Timestamp(last_day)
    start = pd.Timestamp(first_day) - pd.Timedelta(days=lookback_days - 1)
    check_bar_partitions(reader.root, start.date(), end.date())
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
    """Last stored market date per symbol over bars partitions strictly before ``before``.

    Raises
    ------
    DataError
        A partition before ``before`` is missing or not in the stored layout
        (`check_bar_partitions` from the lake's first day).
    """
    day_before = pd.Timestamp(before).date() - timedelta(days=1)
    check_bar_partitions(reader.root, date.min, day_before)
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
