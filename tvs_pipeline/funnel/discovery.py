"""Discovery: run a profile's scanners on a market as of a date and tag every row."""

from __future__ import annotations

from datetime import date

import pandas as pd

from tvs_pipeline.config.schema import ResolvedScanner
from tvs_pipeline.errors import SourceError
from tvs_pipeline.funnel.identity import is_stable_base
from tvs_pipeline.funnel.source import MarketSource

__all__ = ["DISCOVERY_COLUMNS", "discover", "scan_one"]

# TradingView column -> lake column (snake case, so SQL needs no quoting).
FIELD_NAMES = {
    "ticker": "symbol",
    "name": "name",
    "description": "description",
    "type": "type",
    "exchange": "exchange",
    "currency": "currency",
    "base_currency": "base_currency",
    "sector": "sector",
    "close": "close",
    "volume": "volume",
    "Value.Traded": "value_traded",
    "market_cap_basic": "market_cap",
    "ADX": "adx",
    "ATR": "atr",
    "Recommend.All": "recommend_all",
    "Recommend.MA": "recommend_ma",
    "Recommend.Other": "recommend_other",
    "Perf.W": "perf_w",
    "Perf.1M": "perf_1m",
    "Perf.3M": "perf_3m",
    "Volatility.D": "volatility_d",
}
TAG_COLUMNS = (
    "sleeve",
    "scanner",
    "logic",
    "direction",
    "timescale",
    "asset_class",
    "calendar",
    "sessions_per_year",
    "rank",
)
DISCOVERY_COLUMNS = (*FIELD_NAMES.values(), *TAG_COLUMNS)
TEXT_FIELDS = ("name", "description", "type", "exchange", "currency", "base_currency", "sector")


def scan_one(market: MarketSource, scanner: ResolvedScanner, as_of: date) -> pd.DataFrame:
    """Rows of one scanner: the source's query, the template's stable-base rule, the final cut.

    Returns
    -------
    DataFrame
        ``DISCOVERY_COLUMNS``, one row per listing, ``rank`` 1..n in the scanner's final order.
    """
    rows = market.scan(scanner, as_of)
    if "ticker" not in rows.columns:
        raise SourceError(f"scanner {scanner.name}: scan result has no 'ticker' column")
    if scanner.template.exclude_stable_bases and "base_currency" in rows.columns:
        rows = rows.loc[~rows["base_currency"].map(lambda b: is_stable_base(str(b)))]
    if scanner.sort_by in rows.columns:
        keys = [scanner.sort_by] + (["ticker"] if scanner.sort_by != "ticker" else [])
        rows = rows.sort_values(
            keys, ascending=[scanner.sort_order == "asc", True][: len(keys)], na_position="last"
        )
    rows = rows.drop_duplicates("ticker").head(scanner.limit)
    out = pd.DataFrame(
        {lake: rows[tv] if tv in rows.columns else None for tv, lake in FIELD_NAMES.items()}
    )
    for column in TEXT_FIELDS:
        out[column] = out[column].astype("str")
    out = out.assign(
        sleeve=scanner.sleeve,
        scanner=scanner.name,
        logic=scanner.strategy.logic,
        direction=scanner.strategy.direction,
        timescale=scanner.strategy.timescale,
        asset_class=scanner.template.asset_class,
        calendar=scanner.template.calendar,
        sessions_per_year=scanner.template.sessions_per_year,
        rank=range(1, len(rows) + 1),
    )
    return out.reset_index(drop=True)


def discover(market: MarketSource, scanners: list[ResolvedScanner], as_of: date) -> pd.DataFrame:
    """Every scanner's rows for ``as_of``, concatenated in profile order.

    A listing may appear under several scanners (one row each); dedup later keeps one
    instrument per identity, logic and direction.
    """
    frames = [scan_one(market, scanner, as_of) for scanner in scanners]
    if not frames:
        return pd.DataFrame(columns=list(DISCOVERY_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(DISCOVERY_COLUMNS)]
