"""Enrichment: point-in-time features from bars up to the as-of date, beside captured metadata."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from tvs_pipeline.funnel.history import assert_not_after
from tvs_pipeline.funnel.normalization import bar_window
from tvs_pipeline.indicators import wilder_adx, wilder_atr

__all__ = ["ENRICHMENT_COLUMNS", "USD_PER_QUOTE", "enrich", "enrich_day", "usd_per_quote"]

# Quote currencies pegged to the US dollar. Any other quote has no USD rate here, and its USD
# liquidity is left unknown (NaN) rather than guessed.
USD_PER_QUOTE = {
    "USD": 1.0,
    "USDT": 1.0,
    "USDC": 1.0,
    "FDUSD": 1.0,
    "TUSD": 1.0,
    "BUSD": 1.0,
    "DAI": 1.0,
    "USDS": 1.0,
    "USDP": 1.0,
}
ADV_DAYS = 20
VOL_DAYS = 60
HORIZONS = {"ret_1w": 7, "ret_1m": 30, "ret_3m": 91}
CAPTURED = (
    "exchange",
    "name",
    "type",
    "sector",
    "description",
    "currency",
    "base_currency",
    "asset_class",
    "calendar",
    "sessions_per_year",
    "value_traded",
    "market_cap",
    "recommend_all",
    "recommend_ma",
    "recommend_other",
)
ENRICHMENT_COLUMNS = (
    "symbol",
    *CAPTURED,
    "status",
    "history_len",
    "last_close",
    "adv_usd_20",
    "value_traded_usd",
    "adx_14",
    "atr_14",
    "vol_ann",
    *HORIZONS,
)


def usd_per_quote(currency: pd.Series) -> pd.Series:
    """USD per unit of each quote currency; NaN where no peg is known."""
    return currency.astype("str").str.upper().map(USD_PER_QUOTE).astype("float64")


def _wide(bars: pd.DataFrame, column: str) -> pd.DataFrame:
    return bars.pivot(index="market_date", columns="symbol", values=column).sort_index()


def _last_valid(wide: pd.DataFrame) -> pd.Series:
    return wide.ffill().iloc[-1] if len(wide) else pd.Series(dtype="float64")


def _tail_mean_traded(bars: pd.DataFrame) -> pd.Series:
    """Mean close x volume over each symbol's last ``ADV_DAYS`` bars where both are known."""
    ordered = bars.sort_values(["symbol", "market_date"], kind="mergesort")
    traded = (ordered["close"] * ordered["volume"]).dropna()
    symbol = ordered.loc[traded.index, "symbol"]
    last = traded.groupby(symbol, sort=False).tail(ADV_DAYS)
    return last.groupby(symbol.loc[last.index]).mean()


def _tail_return_std(bars: pd.DataFrame) -> pd.Series:
    """Sample std of each symbol's last ``VOL_DAYS`` own-session returns (bars with a close)."""
    ordered = bars.loc[bars["close"].notna()].sort_values(
        ["symbol", "market_date"], kind="mergesort"
    )
    returns = ordered.groupby("symbol", sort=False)["close"].pct_change(fill_method=None)
    # The tail counts the first bar's missing return, as a per-column tail of pct_change does.
    last = returns.groupby(ordered["symbol"], sort=False).tail(VOL_DAYS)
    return last.groupby(ordered.loc[last.index, "symbol"]).std(ddof=1)


def enrich(
    discovery: pd.DataFrame, health: pd.DataFrame, bars: pd.DataFrame, as_of: date
) -> pd.DataFrame:
    """One row per discovered listing: what was captured by the scan, and features as of D.

    Features come from stored bars up to ``as_of`` (a backfilled partition sees what was
    knowable then); sector, ratings and the scanner's traded value are kept exactly as captured
    on that day.

    Parameters
    ----------
    discovery : DataFrame
        The day's discovery rows (``DISCOVERY_COLUMNS``); a listing under several scanners
        appears once here.
    health : DataFrame
        The day's ``data_health`` rows: [symbol, status, ...].
    bars : DataFrame
        Stored bars of the window: [symbol, market_date, open, high, low, close, volume].
    as_of : date
        Partition date.

    Returns
    -------
    DataFrame
        ``ENRICHMENT_COLUMNS``, sorted by symbol. ``adv_usd_20`` is the mean of close x volume x
        USD rate over the last 20 own bars; ``vol_ann`` the standard deviation of the last 60
        own returns x sqrt(sessions per year); ``ret_*`` the close against the last close at
        or before D - 7/30/91 days.
    """
    assert_not_after(bars, as_of)
    listings = discovery.drop_duplicates("symbol").set_index("symbol")[list(CAPTURED)]
    out = listings.join(health.set_index("symbol")[["status"]], how="left")
    symbols = out.index
    rate = usd_per_quote(out["currency"])
    out["value_traded_usd"] = out["value_traded"] * rate
    frame = bars.loc[bars["symbol"].isin(symbols)]
    if frame.empty:
        for column in ENRICHMENT_COLUMNS:
            if column not in out.columns and column != "symbol":
                out[column] = np.nan
        out["history_len"] = 0
        return out.reset_index()[list(ENRICHMENT_COLUMNS)]

    close, high, low = _wide(frame, "close"), _wide(frame, "high"), _wide(frame, "low")
    out["history_len"] = close.notna().sum().reindex(symbols).fillna(0).astype("int64")
    out["last_close"] = _last_valid(close).reindex(symbols)
    out["adv_usd_20"] = _tail_mean_traded(frame).reindex(symbols) * rate
    out["adx_14"] = _last_valid(wilder_adx(high, low, close, 14)).reindex(symbols)
    out["atr_14"] = _last_valid(wilder_atr(high, low, close, 14)).reindex(symbols)
    vol = _tail_return_std(frame)
    out["vol_ann"] = vol.reindex(symbols) * np.sqrt(out["sessions_per_year"].astype("float64"))
    level = close.ffill()
    for column, days in HORIZONS.items():
        past = level.loc[: pd.Timestamp(as_of) - pd.Timedelta(days=days)]
        base = past.iloc[-1] if len(past) else pd.Series(np.nan, index=level.columns)
        out[column] = (out["last_close"] / base.reindex(symbols) - 1.0).astype("float64")
    return out.reset_index().sort_values("symbol").reset_index(drop=True)[list(ENRICHMENT_COLUMNS)]


def enrich_day(
    span: pd.DataFrame,
    lookback_days: int,
    discovery: pd.DataFrame,
    health: pd.DataFrame,
    as_of: date,
) -> pd.DataFrame:
    """`enrich` of one day's listings, on their window cut from a span of bars."""
    window = bar_window(span, as_of, lookback_days, discovery["symbol"].unique().tolist())
    return enrich(discovery, health, window, as_of)
