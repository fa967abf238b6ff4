"""The health policy: one status and reason per listing from its bars in the lookback window."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum

import numpy as np
import pandas as pd

from tvs_pipeline.config.schema import HealthConfig
from tvs_pipeline.funnel.calendars import sessions
from tvs_pipeline.funnel.history import assert_not_after
from tvs_pipeline.funnel.normalization import bar_window

__all__ = [
    "HEALTH_COLUMNS",
    "LISTING_COLUMNS",
    "HealthStatus",
    "classify_health",
    "judge_day",
    "ok_share_by_sleeve",
    "sleeves_below_floor",
]

DEFAULT_FRESHNESS_DAYS = 5


class HealthStatus(StrEnum):
    """Health statuses, most severe first; only OK listings go on to selection."""

    MISSING = "MISSING"
    TOXIC = "TOXIC"
    STALE = "STALE"
    GAPS = "GAPS"
    SHORT_HISTORY = "SHORT_HISTORY"
    OK = "OK"


# What the policy reads of a discovered listing.
LISTING_COLUMNS = ("symbol", "sleeve", "asset_class", "calendar")
SEVERITY = {status: rank for rank, status in enumerate(HealthStatus)}
HEALTH_COLUMNS = (
    "symbol",
    "sleeve",
    "asset_class",
    "calendar",
    "status",
    "reason",
    "severity",
    "n_bars",
    "first_date",
    "last_date",
    "expected_sessions",
    "missing_sessions",
    "longest_gap",
    "isolated_gaps",
    "stale_days",
    "max_return",
    "min_return",
    "longest_frozen",
    "bad_prices",
)


def _session_stats(bars: pd.DataFrame, calendar: str, start: pd.Timestamp, end: pd.Timestamp):
    """Expected and missing sessions, longest and one-session gaps per symbol on one calendar."""
    grid = sessions(calendar, start, end).to_numpy()
    dates = bars["market_date"].to_numpy(dtype="datetime64[ns]")
    pos = np.searchsorted(grid, dates, side="left")
    on_session = (pos < len(grid)) & (grid[np.minimum(pos, len(grid) - 1)] == dates)
    frame = pd.DataFrame({"symbol": bars["symbol"].to_numpy(), "pos": pos, "on": on_session})
    on = frame.loc[frame["on"]]
    present = on.groupby("symbol")["pos"].agg(["min", "max", "size"])
    gaps = on.groupby("symbol")["pos"].diff().sub(1).fillna(0)
    longest = gaps.groupby(on["symbol"]).max()
    singles = gaps.eq(1).groupby(on["symbol"]).sum()
    out = pd.DataFrame(index=pd.Index(frame["symbol"].unique(), name="symbol"))
    out["expected_sessions"] = (present["max"] - present["min"] + 1).reindex(out.index)
    out["missing_sessions"] = out["expected_sessions"] - present["size"].reindex(out.index)
    out["longest_gap"] = longest.reindex(out.index)
    out["isolated_gaps"] = singles.reindex(out.index)
    return out.fillna(0).astype("int64")


def classify_health(
    bars: pd.DataFrame,
    listings: pd.DataFrame,
    as_of: date,
    lookback_days: int,
    history_floor: int,
    policy: HealthConfig,
    fetch_errors: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Classify every listing by the health policy of DESIGN §5.

    Parameters
    ----------
    bars : DataFrame
        [symbol, market_date, open, high, low, close, volume], the stored bars of the window;
        rows outside ``[as_of - lookback_days + 1, as_of]`` are ignored, rows after ``as_of``
        are an error.
    listings : DataFrame
        One row per listing to judge: [symbol, sleeve, asset_class, calendar].
    as_of : date
        The partition date.
    lookback_days, history_floor : int
        Window length in calendar days; fewest bars an OK listing has.
    policy : HealthConfig
        Thresholds (toxic moves, frozen run, tolerated missing sessions, freshness per class).
    fetch_errors : mapping, optional
        Symbol -> why the source could not deliver its bars on ``as_of`` (unknown symbol,
        timeout ...): a listing without bars is MISSING with that reason; one with stored bars
        keeps its status, with the failure noted.

    Returns
    -------
    DataFrame
        ``HEALTH_COLUMNS``, one row per listing, most severe first then by symbol.
    """
    assert_not_after(bars, as_of)
    end = pd.Timestamp(as_of)
    start = end - pd.Timedelta(days=lookback_days - 1)
    table = listings.drop_duplicates("symbol").set_index("symbol")[
        ["sleeve", "asset_class", "calendar"]
    ]
    window = bars.loc[bars["market_date"].between(start, end) & bars["symbol"].isin(table.index)]
    window = window.sort_values(["symbol", "market_date"], kind="mergesort").reset_index(drop=True)
    by_symbol = window.groupby("symbol", sort=False)

    stats = pd.DataFrame(index=table.index)
    stats["n_bars"] = by_symbol.size().reindex(table.index).fillna(0).astype("int64")
    stats["first_date"] = by_symbol["market_date"].min().reindex(table.index)
    stats["last_date"] = by_symbol["market_date"].max().reindex(table.index)

    prev_close = by_symbol["close"].shift(1)
    ret = window["close"] / prev_close - 1.0
    stats["max_return"] = ret.groupby(window["symbol"]).max().reindex(table.index)
    stats["min_return"] = ret.groupby(window["symbol"]).min().reindex(table.index)

    prices = window[["open", "high", "low", "close"]]
    bad = (prices <= 0).any(axis=1) | prices.isna().any(axis=1) | (window["high"] < window["low"])
    stats["bad_prices"] = bad.groupby(window["symbol"]).sum().reindex(table.index).fillna(0)

    same = window["close"].eq(prev_close)
    run_id = (~same).cumsum()
    run_len = same.groupby([window["symbol"], run_id]).transform("size")
    stats["longest_frozen"] = run_len.groupby(window["symbol"]).max().reindex(table.index).fillna(0)

    session_parts = [
        _session_stats(window.loc[window["symbol"].isin(members)], calendar, start, end)
        for calendar, members in table.groupby("calendar").groups.items()
        if window["symbol"].isin(members).any()
    ]
    session = pd.concat(session_parts) if session_parts else pd.DataFrame()
    for column in ("expected_sessions", "missing_sessions", "longest_gap", "isolated_gaps"):
        stats[column] = (
            session[column].reindex(table.index).fillna(0).astype("int64")
            if column in session
            else 0
        )
    stats["stale_days"] = (end - stats["last_date"]).dt.days

    out = table.join(stats)
    out = out.astype({"bad_prices": "int64", "longest_frozen": "int64"})
    verdicts = [_verdict(row, history_floor, policy) for row in out.itertuples()]
    out["status"] = [v[0] for v in verdicts]
    out["reason"] = [v[1] for v in verdicts]
    for symbol, error in (fetch_errors or {}).items():
        if symbol not in out.index:
            continue
        if out.at[symbol, "status"] == HealthStatus.MISSING.value:
            out.at[symbol, "reason"] = f"fetch failed: {error}"
        else:
            note = f"last fetch failed: {error}"
            current = out.at[symbol, "reason"]
            out.at[symbol, "reason"] = f"{current}; {note}" if current else note
    out["severity"] = out["status"].map(SEVERITY).astype("int64")
    out = out.reset_index()
    out = out.sort_values(["severity", "sleeve", "symbol"], kind="mergesort")
    return out[list(HEALTH_COLUMNS)].reset_index(drop=True)


def judge_day(
    span: pd.DataFrame,
    listings: pd.DataFrame,
    fetch_failures: pd.DataFrame,
    as_of: date,
    lookback_days: int,
    history_floor: int,
    policy: HealthConfig,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """One day's health table, and the sleeves whose OK share is below the policy's floor.

    Parameters
    ----------
    span : DataFrame
        Stored bars with their fetch day ``date`` (`read_bar_span`); the day's window is cut
        from it (`bar_window`).
    listings : DataFrame
        The ``discovery`` rows of day D (``LISTING_COLUMNS`` among others).
    fetch_failures : DataFrame
        The ``fetch_failures`` rows of day D: [symbol, reason] (see `classify_health`).
    as_of : date
        Day D.
    lookback_days, history_floor : int
        As in `classify_health`.
    policy : HealthConfig
        The health policy; ``min_ok_share`` is the gate's floor.

    Returns
    -------
    tuple of (DataFrame, dict)
        `classify_health`'s table, and `sleeves_below_floor` of it (empty when the day passes
        the gate).
    """
    chosen = listings[list(LISTING_COLUMNS)]
    window = bar_window(span, as_of, lookback_days, chosen["symbol"].tolist())
    errors = dict(zip(fetch_failures["symbol"], fetch_failures["reason"], strict=True))
    health = classify_health(
        window, chosen, as_of, lookback_days, history_floor, policy, fetch_errors=errors
    )
    return health, sleeves_below_floor(health, policy.min_ok_share)


def _verdict(row, history_floor: int, policy: HealthConfig) -> tuple[str, str]:
    """Status and reason of one listing; the status is the most severe failed rule."""
    if row.n_bars == 0:
        return HealthStatus.MISSING.value, "no bars in the lookback window"
    failed: list[tuple[HealthStatus, str]] = []
    if row.bad_prices:
        failed.append(
            (HealthStatus.TOXIC, f"{row.bad_prices} bars with non-positive or inverted prices")
        )
    if pd.notna(row.max_return) and row.max_return > policy.max_daily_gain:
        failed.append(
            (
                HealthStatus.TOXIC,
                f"daily move {row.max_return:+.1%} above {policy.max_daily_gain:+.0%}",
            )
        )
    if pd.notna(row.min_return) and row.min_return < policy.max_daily_loss:
        failed.append(
            (
                HealthStatus.TOXIC,
                f"daily move {row.min_return:+.1%} below {policy.max_daily_loss:+.0%}",
            )
        )
    if row.longest_frozen >= policy.frozen_sessions:
        frozen = (
            f"close frozen for {row.longest_frozen} sessions (limit {policy.frozen_sessions - 1})"
        )
        failed.append((HealthStatus.TOXIC, frozen))
    limit = policy.freshness_days.get(str(row.asset_class), DEFAULT_FRESHNESS_DAYS)
    if row.stale_days > limit:
        failed.append(
            (
                HealthStatus.STALE,
                f"last bar {row.last_date.date()} is {row.stale_days} days old (limit {limit})",
            )
        )
    if row.longest_gap > policy.tolerated_gap_sessions:
        failed.append(
            (
                HealthStatus.GAPS,
                f"{row.longest_gap} consecutive missing sessions ({row.missing_sessions} "
                f"missing in all; gaps of {policy.tolerated_gap_sessions} tolerated)",
            )
        )
    if row.n_bars < history_floor:
        failed.append(
            (HealthStatus.SHORT_HISTORY, f"{row.n_bars} bars, below the floor of {history_floor}")
        )
    if not failed:
        if row.missing_sessions:
            plural = "s" if row.missing_sessions > 1 else ""
            return (
                HealthStatus.OK.value,
                f"{row.missing_sessions} missing session{plural} tolerated (isolated)",
            )
        return HealthStatus.OK.value, ""
    failed.sort(key=lambda item: SEVERITY[item[0]])
    return failed[0][0].value, "; ".join(reason for _, reason in failed)


def ok_share_by_sleeve(health: pd.DataFrame) -> pd.DataFrame:
    """Per sleeve: listings, OK listings and the OK share (the blocking check's measure)."""
    grouped = health.groupby("sleeve", sort=True)["status"]
    out = pd.DataFrame(
        {
            "listings": grouped.size(),
            "ok": grouped.apply(lambda s: int((s == HealthStatus.OK.value).sum())),
        }
    )
    out["ok_share"] = out["ok"] / out["listings"]
    return out.reset_index()


def sleeves_below_floor(health: pd.DataFrame, floor: float) -> dict[str, float]:
    """The sleeves whose share of OK listings is below ``floor``, with that share.

    Returns
    -------
    dict
        Sleeve -> OK share rounded to three decimals (`ok_share_by_sleeve`); empty when every
        sleeve reaches the floor.
    """
    shares = ok_share_by_sleeve(health)
    low = shares.loc[shares["ok_share"] < floor]
    return {r.sleeve: round(float(r.ok_share), 3) for r in low.itertuples()}
