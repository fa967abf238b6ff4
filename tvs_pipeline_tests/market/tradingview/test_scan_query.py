import pytest

from tvs_pipeline.config.schema import FilterRule
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.market.query import ScanQuery
from tvs_pipeline.market.tradingview.scan_query import check_column, plan_scan


def query(*rules, columns=("close",), sort_by="close", limit=10, market="america"):
    return ScanQuery(
        market=market,
        filters=tuple(rules),
        columns=tuple(columns),
        sort_by=sort_by,
        sort_order="desc",
        limit=limit,
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (FilterRule(column="close", op=">", value=5), ("greater", 5)),
        (FilterRule(column="close", op=">=", value=5), ("egreater", 5)),
        (FilterRule(column="close", op="<", value=5), ("less", 5)),
        (FilterRule(column="close", op="<=", value=5), ("eless", 5)),
        (FilterRule(column="type", op="==", value="stock"), ("equal", "stock")),
        (FilterRule(column="type", op="!=", value="fund"), ("nequal", "fund")),
        (FilterRule(column="close", op="between", value=[1, 9]), ("in_range", [1, 9])),
        (FilterRule(column="close", op="not_between", value=[1, 9]), ("not_in_range", [1, 9])),
        (FilterRule(column="exchange", op="in", value=["NYSE"]), ("in_range", ["NYSE"])),
        (FilterRule(column="exchange", op="not_in", value=["OTC"]), ("not_in_range", ["OTC"])),
        (FilterRule(column="name", op="match", value="USDT$"), ("match", "USDT$")),
        (FilterRule(column="Recommend.All|240", op=">", value=0.1), ("greater", 0.1)),
    ],
    ids=[
        "gt",
        "ge",
        "lt",
        "le",
        "eq",
        "ne",
        "between",
        "not-between",
        "in",
        "not-in",
        "match",
        "suffix-240",
    ],
)
def test_each_config_operation_maps_onto_one_scanner_expression(rule, expected):
    body = plan_scan(query(rule), "s").page(0, 10)
    assert body["filter"] == [{"left": rule.column, "operation": expected[0], "right": expected[1]}]
    assert "filter2" not in body  # the package's default stock filter never leaks in


@pytest.mark.parametrize(
    ("op", "operator", "operation"), [("in", "or", "equal"), ("not_in", "and", "nequal")]
)
def test_numeric_lists_become_or_and_trees_not_ranges(op, operator, operation):
    body = plan_scan(query(FilterRule(column="rank", op=op, value=[1, 5])), "s").page(0, 10)
    assert body["filter"] == []
    inner = body["filter2"]["operands"][0]["operation"]
    assert inner["operator"] == operator
    assert [o["expression"] for o in inner["operands"]] == [
        {"left": "rank", "operation": operation, "right": 1},
        {"left": "rank", "operation": operation, "right": 5},
    ]


def test_columns_sort_range_and_markets():
    plan = plan_scan(query(columns=("close", "ADX|1W"), sort_by="Recommend.All|240"), "s")
    body = plan.page(2000, 1000)
    assert body["columns"] == ["close", "ADX|1W"]
    assert body["sort"] == {"sortBy": "Recommend.All|240", "sortOrder": "desc", "nullsFirst": False}
    assert body["range"] == [2000, 3000]
    assert body["markets"] == ["america"] and plan.market == "america"
    assert body["ignore_unknown_fields"] is False
    assert plan.page(0, 5)["range"] == [0, 5]  # pages never share state


def test_ticker_lists_use_symbols_tickers_and_exact_exclusions():
    plan = plan_scan(
        query(
            FilterRule(column="ticker", op="in", value=["COMEX:GC1!", "NYSE:A"]),
            FilterRule(column="ticker", op="not_in", value=["NYSE:A"]),
            FilterRule(column="ticker", op="!=", value="NYSE:B"),
        ),
        "s",
    )
    body = plan.page(0, 10)
    assert plan.market == "global" and body["symbols"]["tickers"] == ["COMEX:GC1!", "NYSE:A"]
    assert plan.exclude == {"NYSE:A", "NYSE:B"}


@pytest.mark.parametrize(
    ("q", "message"),
    [
        (query(FilterRule(column="ticker", op="match", value="A")), "cannot be expressed"),
        (query(FilterRule(column="close|7", op=">", value=1)), "timeframe '|7'"),
        (query(columns=("close", "Perf.W|2W")), "timeframe '|2W'"),
        (query(columns=("close;drop",)), "is not a scanner column name"),
        (query(sort_by="ticker"), "sort_by ticker cannot be expressed"),
        (query(market="../admin"), "is not a scanner market name"),
    ],
    ids=[
        "ticker-match",
        "bad-filter-suffix",
        "bad-column-suffix",
        "bad-name",
        "sort-ticker",
        "bad-market",
    ],
)
def test_what_cannot_be_expressed_is_a_config_error(q, message):
    with pytest.raises(ConfigError, match=message):
        plan_scan(q, "s")


def test_check_column_accepts_every_documented_suffix():
    for suffix in ("", "|1", "|5", "|15", "|30", "|60", "|120", "|240", "|1W", "|1M"):
        assert check_column(f"Recommend.All{suffix}", "x") == f"Recommend.All{suffix}"
