"""The scanner fields each market knows (``presets/markets/<market>.yaml``), and the check.

The scanner answers a field its market does not know with HTTP 400 and no rows, which stops the
whole sleeve: a forex scan that asks for ``sector`` or ``market_cap_basic`` fails. So columns
belong to the market: a preset per market lists the ``columns`` asked on every scan (the
discovery row) and the other ``fields`` a filter, sort or extra column may name, and a query is
checked against it before any request, with one line naming the column and the market.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import yaml

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.market.query import DEFAULT_COLUMNS, ScanQuery

__all__ = ["MARKETS_ROOT", "MarketFields", "fit_to_market", "market_fields"]

MARKETS_ROOT = Path(__file__).resolve().parents[2] / "presets" / "markets"
KEYS = frozenset({"market", "asset_class", "columns", "fields"})
TICKER = "ticker"


@dataclass(frozen=True)
class MarketFields:
    """The scanner fields of one market.

    Attributes
    ----------
    market : str
        The scanner market (URL path segment).
    asset_class : str
        ``equity``, ``crypto``, ``forex`` or ``futures``.
    columns : tuple of str
        Asked on every scan of the market, in this order.
    fields : frozenset of str
        Every field the market knows (``columns`` included).
    """

    market: str
    asset_class: str
    columns: tuple[str, ...]
    fields: frozenset[str]

    def check(self, column: str, where: str) -> str:
        """Return ``column`` if the market knows it (its ``|`` timeframe suffix aside).

        Raises
        ------
        ConfigError
            The market does not know the field.
        """
        base = column.split("|", 1)[0]
        if base not in self.fields:
            raise ConfigError(
                f"{where}: column {column!r} is not a field of market {self.market!r} "
                f"(presets/markets/{self.market}.yaml; the scanner would answer HTTP 400)"
            )
        return column


def _names(value: object, key: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{path}: {key}: expected a list of field names")
    return tuple(value)


@lru_cache(maxsize=16)
def market_fields(market: str, root: Path = MARKETS_ROOT) -> MarketFields:
    """The fields of ``market``, read from ``<root>/<market>.yaml`` (cached).

    Raises
    ------
    ConfigError
        No preset for the market, or the preset is malformed (unknown key, a list that is not
        names, a market name that is not the file's).
    """
    path = root / f"{market}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in root.glob("*.yaml")))
        raise ConfigError(
            f"market {market!r}: no scanner field list {path.name} in presets/markets "
            f"(known: {known})"
        )
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise ConfigError(f"{path}: {unknown[0]}: unknown key (expected {sorted(KEYS)})")
    if data.get("market") != market:
        raise ConfigError(f"{path}: market {data.get('market')!r}: expected {market!r}")
    columns = _names(data.get("columns"), "columns", path)
    fields = _names(data.get("fields", []), "fields", path)
    return MarketFields(
        market=market,
        asset_class=str(data.get("asset_class", "")),
        columns=columns,
        fields=frozenset(columns) | frozenset(fields),
    )


def fit_to_market(query: ScanQuery, name: str) -> ScanQuery:
    """``query`` asking for its market's columns, every field it names checked against the market.

    The source-neutral ``DEFAULT_COLUMNS`` give way to the market's ``columns``; the columns the
    configuration adds (a scanner's ``columns``, its sort) are kept after them.

    Parameters
    ----------
    query : ScanQuery
        The resolved scanner's query (``build_scan_query``).
    name : str
        The scanner's name, for messages.

    Returns
    -------
    ScanQuery
        The same query with the market's columns.

    Raises
    ------
    ConfigError
        A filter, the sort or an added column names a field the market does not know (the
        message names the column and the market), or the market has no field list.
    """
    where = f"scanner {name}"
    known = market_fields(query.market)
    for rule in query.filters:
        if rule.column != TICKER:
            known.check(rule.column, f"{where}: filter {rule.column} {rule.op}")
    if query.sort_by != TICKER:
        known.check(query.sort_by, f"{where}: sort_by")
    extra = [c for c in query.columns if c not in DEFAULT_COLUMNS and c not in known.columns]
    for column in extra:
        known.check(column, where)
    return replace(query, columns=(*known.columns, *extra))
