"""Scanner queries: one source-neutral query built from a resolved scanner, and its evaluation."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tvs_pipeline.config.schema import FilterRule, ResolvedScanner
from tvs_pipeline.errors import ConfigError

__all__ = [
    "DEFAULT_COLUMNS",
    "ScanQuery",
    "apply_query",
    "build_scan_query",
    "evaluate_filter",
    "universe_rules",
]

# The columns every discovery row carries, named as the TradingView scanner names them.
DEFAULT_COLUMNS: tuple[str, ...] = (
    "name",
    "description",
    "type",
    "exchange",
    "currency",
    "base_currency",
    "sector",
    "close",
    "volume",
    "Value.Traded",
    "market_cap_basic",
    "ADX",
    "Recommend.All",
    "Recommend.MA",
    "Recommend.Other",
    "Perf.W",
    "Perf.1M",
    "Perf.3M",
    "Volatility.D",
    "ATR",
)


@dataclass(frozen=True)
class ScanQuery:
    """What one scanner asks a market for, as of a date.

    Attributes
    ----------
    market : str
        Scanner market (``america``, ``crypto``, ...).
    filters : tuple of FilterRule
        Every condition, including the universe's exchange, type and symbol constraints.
    columns : tuple of str
        Columns to return besides ``ticker`` (``EXCHANGE:SYMBOL``).
    sort_by, sort_order : str
        Server-side order before the cut.
    limit : int
        Rows to return at most.
    """

    market: str
    filters: tuple[FilterRule, ...]
    columns: tuple[str, ...]
    sort_by: str
    sort_order: str
    limit: int


def universe_rules(scanner: ResolvedScanner) -> list[FilterRule]:
    """The L0 universe's exchanges, types and symbol lists as ``in``/``not_in`` filters."""
    universe = scanner.universe
    rules: list[FilterRule] = []
    if universe.exchanges:
        rules.append(FilterRule(column="exchange", op="in", value=list(universe.exchanges)))
    if universe.types:
        rules.append(FilterRule(column="type", op="in", value=list(universe.types)))
    if universe.symbols:
        rules.append(FilterRule(column="ticker", op="in", value=list(universe.symbols)))
    if universe.exclude_symbols:
        rules.append(FilterRule(column="ticker", op="not_in", value=list(universe.exclude_symbols)))
    return rules


def build_scan_query(scanner: ResolvedScanner) -> ScanQuery:
    """Turn a resolved L4 scanner into one query: all layers' filters, the universe's prefetch.

    The universe's exchanges, types and symbol lists become ``in``/``not_in`` filters, so a source
    needs to understand filters only.
    """
    universe = scanner.universe
    rules = universe_rules(scanner)
    rules.extend(scanner.filters)
    columns = list(DEFAULT_COLUMNS)
    for extra in (*scanner.columns, universe.sort_by, scanner.sort_by):
        if extra not in columns and extra != "ticker":
            columns.append(extra)
    return ScanQuery(
        market=universe.market,
        filters=tuple(rules),
        columns=tuple(columns),
        sort_by=universe.sort_by,
        sort_order=universe.sort_order,
        limit=universe.limit,
    )


def evaluate_filter(frame: pd.DataFrame, rule: FilterRule) -> pd.Series:
    """Boolean mask of the rows of ``frame`` that pass ``rule``; a missing value never passes.

    Raises
    ------
    ConfigError
        The rule names a column the frame does not have.
    """
    if rule.column not in frame.columns:
        raise ConfigError(f"filter {rule.column} {rule.op} {rule.value!r}: unknown column")
    values = frame[rule.column]
    present = values.notna()
    op, target = rule.op, rule.value
    if op == "match":
        pattern = re.compile(str(target))
        hit = values.astype("string").map(lambda v: bool(pattern.search(v)) if v else False)
        return present & hit.astype(bool)
    if op in ("in", "not_in"):
        hit = values.isin(list(target))  # type: ignore[arg-type]
        return present & (hit if op == "in" else ~hit)
    if op in ("between", "not_between"):
        low, high = target  # type: ignore[misc]
        inside = (values >= low) & (values <= high)
        return present & (inside if op == "between" else ~inside)
    compare = {
        ">": np.greater,
        ">=": np.greater_equal,
        "<": np.less,
        "<=": np.less_equal,
        "==": np.equal,
        "!=": np.not_equal,
    }[op]
    return present & pd.Series(compare(values, target), index=frame.index).fillna(False)


def apply_query(snapshot: pd.DataFrame, query: ScanQuery) -> pd.DataFrame:
    """Filter, sort and cut a snapshot the way the scanner service does.

    Parameters
    ----------
    snapshot : DataFrame
        One row per listing with a ``ticker`` column and the scanner's columns.
    query : ScanQuery
        The query to evaluate.

    Returns
    -------
    DataFrame
        ``ticker`` then ``query.columns``, at most ``query.limit`` rows, in the query's order
        (ties broken by ticker, so the result is deterministic).
    """
    mask = pd.Series(True, index=snapshot.index)
    for rule in query.filters:
        mask &= evaluate_filter(snapshot, rule)
    missing = [c for c in query.columns if c not in snapshot.columns]
    if missing:
        raise ConfigError(f"scan columns {missing}: unknown column")
    if query.sort_by not in snapshot.columns:
        raise ConfigError(f"sort_by {query.sort_by!r}: unknown column")
    # The service sorts on a field it was not asked to return (a forex scan sorts by
    # Value.Traded, not a forex column): sort with it, return without it.
    shown = ["ticker", *query.columns]
    rows = snapshot.loc[mask, list(dict.fromkeys([*shown, query.sort_by]))]
    keys = [query.sort_by] + (["ticker"] if query.sort_by != "ticker" else [])
    rows = rows.sort_values(
        keys,
        ascending=[query.sort_order == "asc", True][: len(keys)],
        na_position="last",
        kind="mergesort",
    )
    return rows[shown].head(query.limit).reset_index(drop=True)
