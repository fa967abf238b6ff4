"""A source-neutral ``ScanQuery`` as TradingView scanner pages, built with ``tradingview-screener``.

Every config filter maps onto one ``tradingview_screener.col`` expression: ``>``/``>=``/``<``/
``<=``/``==``/``!=`` on the operators, ``between`` on ``between`` (``in_range``), ``in`` on
``isin`` (``in_range`` with a list) and ``match`` on ``like`` (``match``). The scanner's
``in_range`` means BETWEEN for two numbers, so a numeric ``in`` list is sent as an OR of
equalities in ``filter2``. The ``ticker`` pseudo-column (the universe's symbol lists) becomes
``symbols.tickers`` (``in``/``==``) or an exact exclusion applied while paging
(``not_in``/``!=``); any other operation on it cannot be expressed and is a ConfigError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tradingview_screener import And, Or, Query, col

from tvs_pipeline.config.schema import FilterRule
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.market.query import ScanQuery

__all__ = ["TIMEFRAMES", "ScanPlan", "check_column", "plan_scan"]

# Column timeframe suffixes the scanner knows; no suffix is the daily value.
TIMEFRAMES = ("1", "5", "15", "30", "60", "120", "240", "1W", "1M")
COLUMN = re.compile(r"^[A-Za-z0-9_.\[\]-]+(?:\|([A-Za-z0-9]+))?$")
SCANNER_MARKETS = re.compile(r"^[a-z][a-z0-9_]*$")
TICKER = "ticker"


@dataclass(frozen=True)
class ScanPlan:
    """How one ``ScanQuery`` is asked of the scanner.

    Attributes
    ----------
    query : Query
        The ``tradingview_screener`` query without a range (``page`` adds one).
    market : str
        The URL path segment: the query's market, or ``global`` for a ticker list.
    exclude : frozenset of str
        ``EXCHANGE:TICKER`` names dropped from the pages (exact, before the limit counts).
    limit : int
        Rows wanted after exclusion.
    """

    query: Query
    market: str
    exclude: frozenset[str]
    limit: int

    def page(self, start: int, size: int) -> dict[str, Any]:
        """The request body of rows ``[start, start + size)``."""
        return self.query.copy().offset(start).limit(start + size).query  # type: ignore[return-value]


def check_column(name: str, where: str) -> str:
    """Return ``name`` if it is a scanner column with a known timeframe suffix.

    Raises
    ------
    ConfigError
        The name is empty, has characters the scanner never uses, or an unknown ``|`` suffix.
    """
    found = COLUMN.match(name)
    if found is None:
        raise ConfigError(f"{where}: column {name!r} is not a scanner column name")
    suffix = found.group(1)
    if suffix is not None and suffix not in TIMEFRAMES:
        raise ConfigError(
            f"{where}: column {name!r} has timeframe '|{suffix}' "
            f"(expected one of {', '.join('|' + t for t in TIMEFRAMES)})"
        )
    return name


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _expression(rule: FilterRule, where: str) -> dict[str, Any]:
    """One filter as a scanner expression (``filter2`` form for numeric ``in``/``not_in``)."""
    column = col(check_column(rule.column, where))
    value = rule.value
    if rule.op in ("in", "not_in") and _numeric(value):  # type: ignore[arg-type]
        parts = [(column == v) if rule.op == "in" else (column != v) for v in value]  # type: ignore[union-attr]
        return (Or if rule.op == "in" else And)(*parts)  # type: ignore[return-value]
    return {
        ">": lambda: column > value,
        ">=": lambda: column >= value,
        "<": lambda: column < value,
        "<=": lambda: column <= value,
        "==": lambda: column == value,
        "!=": lambda: column != value,
        "between": lambda: column.between(*value),  # type: ignore[misc]
        "not_between": lambda: column.not_between(*value),  # type: ignore[misc]
        "in": lambda: column.isin(value),  # type: ignore[arg-type]
        "not_in": lambda: column.not_in(value),  # type: ignore[arg-type]
        "match": lambda: column.like(value),
    }[rule.op]()


def plan_scan(query: ScanQuery, name: str) -> ScanPlan:
    """Express a ``ScanQuery`` as a scanner query, or say which part cannot be expressed.

    Parameters
    ----------
    query : ScanQuery
        The resolved scanner's query (``build_scan_query``).
    name : str
        The scanner's name, for messages.

    Returns
    -------
    ScanPlan
        The query, its URL market, the exact exclusions and the row limit.

    Raises
    ------
    ConfigError
        A column is not a scanner column or has an unknown timeframe suffix, a ``ticker``
        filter uses an operation other than ``in``/``not_in``/``==``/``!=``, the sort is by
        ``ticker``, or the market name cannot be a scanner path.
    """
    where = f"scanner {name}"
    if not SCANNER_MARKETS.match(query.market):
        raise ConfigError(f"{where}: market {query.market!r} is not a scanner market name")
    tickers: list[str] | None = None
    exclude: set[str] = set()
    plain: list[dict[str, Any]] = []
    grouped: list[dict[str, Any]] = []
    for rule in query.filters:
        if rule.column == TICKER:
            values = rule.value if isinstance(rule.value, list) else [rule.value]
            names = [str(v) for v in values]
            if rule.op in ("in", "=="):
                tickers = names if tickers is None else [t for t in tickers if t in set(names)]
            elif rule.op in ("not_in", "!="):
                exclude.update(names)
            else:
                raise ConfigError(
                    f"{where}: filter ticker {rule.op} {rule.value!r} cannot be expressed "
                    "(the scanner takes ticker lists only: in, not_in, ==, !=)"
                )
            continue
        expression = _expression(rule, where)
        (plain if "left" in expression else grouped).append(expression)
    columns = [check_column(c, where) for c in query.columns]
    if query.sort_by == TICKER:
        raise ConfigError(f"{where}: sort_by ticker cannot be expressed (sort by a scanner column)")
    sort_by = check_column(query.sort_by, where)
    tv = Query(query.market).select(*columns).where(*plain)
    if grouped:
        tv = tv.where2(And(*grouped))
    else:
        tv.query.pop("filter2", None)  # the package's default stock filter: never ours
    tv = tv.order_by(sort_by, ascending=query.sort_order == "asc", nulls_first=False)
    tv.query["symbols"] = {"query": {"types": []}, "tickers": []}
    tv.query["ignore_unknown_fields"] = False
    market = query.market
    if tickers is not None:
        tv = tv.set_tickers(*tickers)
        market = "global"
    return ScanPlan(query=tv, market=market, exclude=frozenset(exclude), limit=query.limit)
