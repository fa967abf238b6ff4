"""Scanner columns belong to the market: the presets, the query fitted to them, the errors."""

from pathlib import Path

import pytest

from tvs_pipeline.config.schema import FilterRule
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.market.query import DEFAULT_COLUMNS, ScanQuery
from tvs_pipeline.market.tradingview.fields import MARKETS_ROOT, fit_to_market, market_fields

MARKETS = ("america", "crypto", "forex", "futures")


def query(market, *rules, sort_by="close", columns=DEFAULT_COLUMNS):
    return ScanQuery(market, tuple(rules), tuple(columns), sort_by, "desc", 50)


@pytest.mark.parametrize("market", MARKETS)
def test_every_market_preset_loads_and_asks_what_it_knows(market):
    fields = market_fields(market)
    assert fields.market == market and set(fields.columns) <= fields.fields
    assert len(set(fields.columns)) == len(fields.columns)
    # The discovery row's core: every market prices, trades and ranks its listings.
    assert {"name", "exchange", "type", "close", "volume", "ATR", "ADX"} <= set(fields.columns)


@pytest.mark.parametrize(
    ("market", "absent"),
    [
        ("america", set()),
        ("crypto", {"sector", "market_cap_basic"}),
        ("forex", {"sector", "market_cap_basic", "Value.Traded"}),
        ("futures", {"sector", "market_cap_basic", "base_currency"}),
    ],
)
def test_a_scan_asks_only_the_columns_its_market_knows(market, absent):
    fitted = fit_to_market(query(market), "s")
    assert set(DEFAULT_COLUMNS) - set(fitted.columns) == absent


def test_columns_the_configuration_adds_are_kept_after_the_markets():
    fitted = fit_to_market(query("crypto", columns=(*DEFAULT_COLUMNS, "RSI", "24h_vol|5")), "s")
    assert fitted.columns[-2:] == ("RSI", "24h_vol|5")
    assert fitted.columns[:-2] == market_fields("crypto").columns


@pytest.mark.parametrize(
    ("fitted", "message"),
    [
        (
            lambda: fit_to_market(query("forex", sort_by="market_cap_basic"), "fx_majors"),
            "scanner fx_majors: sort_by: column 'market_cap_basic' is not a field of market "
            "'forex' (presets/markets/forex.yaml; the scanner would answer HTTP 400)",
        ),
        (
            lambda: fit_to_market(
                query("crypto", FilterRule(column="sector", op="==", value="Finance")), "c"
            ),
            "scanner c: filter sector ==: column 'sector' is not a field of market 'crypto'",
        ),
        (
            lambda: fit_to_market(query("futures", columns=("base_currency|60",)), "f"),
            "scanner f: column 'base_currency|60' is not a field of market 'futures'",
        ),
        (
            lambda: fit_to_market(query("mars"), "m"),
            "market 'mars': no scanner field list mars.yaml in presets/markets "
            "(known: america, crypto, forex, futures)",
        ),
    ],
    ids=["sort", "filter", "column", "market"],
)
def test_a_field_the_market_does_not_know_is_one_line_naming_column_and_market(fitted, message):
    with pytest.raises(ConfigError) as caught:
        fitted()
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_the_ticker_pseudo_column_is_not_a_field(tmp_path):
    rules = (FilterRule(column="ticker", op="in", value=["NYSE:A"]),)
    assert fit_to_market(query("america", *rules, sort_by="ticker"), "s").filters == rules


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("market: x\ncolumns: [a]\ncolour: red\n", "colour: unknown key"),
        ("market: y\ncolumns: [a]\n", "market 'y': expected 'x'"),
        ("market: x\ncolumns: a\n", "columns: expected a list of field names"),
    ],
    ids=["unknown-key", "wrong-market", "not-a-list"],
)
def test_a_malformed_market_preset_is_a_config_error(tmp_path, text, message):
    (tmp_path / "x.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        market_fields("x", Path(tmp_path))


def test_the_presets_live_under_presets_markets():
    assert MARKETS_ROOT.parts[-2:] == ("presets", "markets")
    assert sorted(p.stem for p in MARKETS_ROOT.glob("*.yaml")) == sorted(MARKETS)


# ------------------------------------------- against tradingview-screener's own queries (issue 17)
def _package_queries() -> dict[str, list[dict]]:
    """The scan bodies tradingview-screener ships per market (no network: its source only)."""
    from tradingview_screener import screeners
    from tradingview_screener.query import STOCKS_QUERY, Query

    return {
        "america": [STOCKS_QUERY, Query().query],  # stocks() and the default Query()
        "crypto": [screeners.crypto().query],
        "forex": [screeners.forex().query],
        "futures": [screeners.futures().query],
    }


def _named_fields(body: dict) -> set[str]:
    """Every field a scan body asks, filters or sorts on, without its ``|`` timeframe."""
    names = set(body.get("columns", []))
    names |= {rule["left"] for rule in body.get("filter", [])}
    stack = [body.get("filter2", {})]
    while stack:
        node = stack.pop()
        if "expression" in node:
            names.add(node["expression"]["left"])
        stack.extend(node.get("operation", {}).get("operands", []))
        stack.extend(node.get("operands", []))
    if "sort" in body:
        names.add(body["sort"]["sortBy"])
    return {name.split("|", 1)[0] for name in names}


@pytest.mark.parametrize("market", MARKETS)
def test_the_lists_agree_with_tradingview_screeners_own_queries(market):
    """Where the package's screener for a market names a field we use anywhere, that market's
    list has it (the forex and futures screeners sort by Value.Traded, the crypto one filters on
    centralization and ranks by 24h_vol, the stocks one reads sector and market_cap_basic)."""
    ours = {name: market_fields(name).fields for name in MARKETS}
    used = set().union(*ours.values())
    theirs = set().union(*(_named_fields(body) for body in _package_queries()[market]))
    assert theirs & used <= ours[market], sorted((theirs & used) - ours[market])
    assert {"name", "close", "volume", "currency"} & theirs <= ours[market]
    assert len(theirs & ours[market]) >= 4  # the check bites: the package names our fields


def test_the_package_shows_the_equity_fields_the_other_markets_lack():
    """sector and market_cap_basic come from the stocks screener; the package's forex and
    futures screeners ask name, close, volume and currency only, and none of its crypto pair
    queries asks sector or market_cap_basic (a coin's capitalisation is market_cap_calc, on
    the coin screener): our lists leave them out of those markets."""
    queries = _package_queries()
    stocks = set().union(*(_named_fields(body) for body in queries["america"]))
    assert {"sector", "market_cap_basic"} <= stocks & market_fields("america").fields
    for market in ("crypto", "forex", "futures"):
        assert not {"sector", "market_cap_basic"} & _named_fields(queries[market][0])
        assert not {"sector", "market_cap_basic"} & market_fields(market).fields
    from tradingview_screener import screeners

    assert "market_cap_calc" in _named_fields(screeners.coin().query)


SCANNER_PRESETS = sorted(p.stem for p in (MARKETS_ROOT.parent / "scanners").glob("*.yaml"))


@pytest.mark.parametrize("name", SCANNER_PRESETS)
def test_every_shipped_scanner_asks_its_market_known_fields_only(name):
    """Every L4 preset (the FX and futures sleeves among them) filters, gates and sorts on
    fields of its own market: the service would answer anything else with HTTP 400."""
    from tvs_pipeline.config import load_scanner
    from tvs_pipeline.market.query import build_scan_query

    scanner = load_scanner(name)
    fitted = fit_to_market(build_scan_query(scanner), name)
    known = market_fields(scanner.universe.market)
    assert set(fitted.columns) <= known.fields
    assert {rule.column.split("|")[0] for rule in fitted.filters} - {"ticker"} <= known.fields


def test_the_fx_and_futures_presets_exist():
    assert {"forex_majors_trend", "forex_majors_trend_short", "futures_trend",
            "futures_trend_short"} <= set(SCANNER_PRESETS)  # fmt: skip
