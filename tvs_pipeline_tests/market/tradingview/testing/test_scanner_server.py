"""The local scanner (testing/scanner_server.py): filters, sort, paging, answers and faults."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import numpy as np
import pandas as pd
import pytest
import requests

from tvs_pipeline.market.tradingview.testing import SimulatedClock
from tvs_pipeline.market.tradingview.testing.scanner_server import (
    ScannerOptions,
    ScannerServer,
    evaluate_expression,
)

NOW = datetime(2025, 9, 2, 2, 0, tzinfo=UTC)
ROWS = pd.DataFrame(
    {
        "ticker": ["NYSE:B", "NASDAQ:A", "NYSE:C", "AMEX:D", "NASDAQ:E"],
        "type": ["stock", "stock", "fund", "fund", "stock"],
        "close": [20.0, 10.0, np.nan, 40.0, 5.0],
        "volume": [100.0, 300.0, 200.0, 50.0, 300.0],
        "name": ["Bravo", "alpha", "Charlie", "delta", "Echo"],
        "tags": [["x"], ["y"], [], ["x", "y"], None],
    }
)


def universe(market):
    return ROWS if market == "america" else None


def answer(body, options=None):
    server = ScannerServer(universe, lambda: NOW, options)
    return server.answer("/america/scan", json.dumps(body).encode(), {})


def passing(expression, ignore_unknown=False):
    mask = evaluate_expression(ROWS, expression, ignore_unknown, ignore_case=True)
    return ROWS.loc[mask, "ticker"].tolist()


def expr(left, operation, right=None):
    return {"left": left, "operation": operation, "right": right}


@pytest.mark.parametrize(
    ("expression", "tickers"),
    [
        (expr("close", "greater", 10), ["NYSE:B", "AMEX:D"]),
        (expr("close", "eless", 10), ["NASDAQ:A", "NASDAQ:E"]),
        (expr("close", "empty"), ["NYSE:C"]),
        (expr("close", "nequal", 5), ["NYSE:B", "NASDAQ:A", "AMEX:D"]),
        (expr("volume", "greater", "close"), ["NYSE:B", "NASDAQ:A", "AMEX:D", "NASDAQ:E"]),
        (expr("close", "in_range", [5, 20]), ["NYSE:B", "NASDAQ:A", "NASDAQ:E"]),
        (expr("type", "in_range", ["fund"]), ["NYSE:C", "AMEX:D"]),
        (expr("type", "not_in_range", ["fund"]), ["NYSE:B", "NASDAQ:A", "NASDAQ:E"]),
        (expr("name", "match", "^[a-c]"), ["NYSE:B", "NASDAQ:A", "NYSE:C"]),
        (expr("tags", "has", ["x"]), ["NYSE:B", "AMEX:D"]),
        (expr("tags", "has_none_of", "x"), ["NASDAQ:A", "NYSE:C"]),
    ],
    ids=[
        "greater",
        "eless-null-fails",
        "empty",
        "nequal",
        "column-operand-null-fails",
        "numeric-range",
        "list-in",
        "list-not-in",
        "match-ignores-case",
        "has",
        "has-none-of",
    ],
)
def test_each_operation_by_hand(expression, tickers):
    assert passing(expression) == tickers


def test_unknown_fields_and_operations():
    with pytest.raises(Exception, match="Unknown field") as caught:
        passing(expr("RSI7", "greater", 1))
    assert caught.value.status == 400
    assert passing(expr("RSI7", "greater", 1), ignore_unknown=True) == []
    with pytest.raises(Exception, match="Unknown operation 'above'"):
        passing(expr("close", "above", 1))


def test_an_answer_is_filtered_sorted_and_paged_by_hand():
    body = {
        "columns": ["name", "close"],
        "filter": [expr("type", "equal", "stock")],
        "sort": {"sortBy": "volume", "sortOrder": "desc"},
        "range": [1, 3],
    }
    # stocks by volume desc: A 300, E 300 (tie keeps ticker order), B 100; rows 1..2
    assert answer(body) == {
        "totalCount": 3,
        "data": [{"s": "NASDAQ:E", "d": ["Echo", 5.0]}, {"s": "NYSE:B", "d": ["Bravo", 20.0]}],
    }


def test_nulls_sort_last_unless_asked_first_and_nan_is_null():
    by_close = {"columns": ["close"], "sort": {"sortBy": "close", "sortOrder": "asc"}}
    assert [row["s"] for row in answer(by_close)["data"]][-1] == "NYSE:C"
    first = {**by_close, "sort": {**by_close["sort"], "nullsFirst": True}}
    data = answer(first)["data"]
    assert data[0] == {"s": "NYSE:C", "d": [None]}


def test_filter2_trees_and_ticker_lists():
    body = {
        "columns": [],
        "symbols": {"tickers": ["NYSE:B", "NYSE:C", "AMEX:D"]},
        "filter2": {
            "operator": "or",
            "operands": [
                {"expression": expr("close", "greater", 30)},
                {
                    "operation": {
                        "operator": "and",
                        "operands": [
                            {"expression": expr("type", "equal", "stock")},
                            {"expression": expr("volume", "egreater", 100)},
                        ],
                    }
                },
            ],
        },
    }
    assert [row["s"] for row in answer(body)["data"]] == ["AMEX:D", "NYSE:B"]


def test_range_edges_and_options():
    assert answer({"columns": [], "range": [10, 20]}) == {"totalCount": 5, "data": []}
    with pytest.raises(Exception, match="range past the end"):
        answer({"columns": [], "range": [10, 20]}, ScannerOptions(past_end="error"))
    assert len(answer({"columns": []}, ScannerOptions(default_range=2))["data"]) == 2
    assert list(answer({"columns": []}, ScannerOptions(data_first=True))) == ["data", "totalCount"]


def test_over_http_the_date_is_the_clock_and_faults_come_in_order():
    clock = SimulatedClock(NOW)
    with ScannerServer(universe, clock, ScannerOptions(retry_after=3), faults=["429"]) as server:
        url = f"{server.url}/america/scan"
        refused = requests.post(url, json={"columns": ["close"]}, timeout=5)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "3"
        ok = requests.post(url, json={"columns": ["close"], "range": [0, 1]}, timeout=5)
        assert ok.status_code == 200 and ok.json()["totalCount"] == 5
        assert parsedate_to_datetime(ok.headers["Date"]) == NOW
        server.add_faults("nulldata")
        assert requests.post(url, json={}, timeout=5).json() == {"totalCount": 0, "data": None}
        missing = requests.post(f"{server.url}/mars/scan", json={}, timeout=5)
        assert missing.status_code == 404 and "unknown market mars" in missing.text
        unknown = requests.post(url, json={"columns": ["RSI7"]}, timeout=5)
        assert unknown.status_code == 400 and "RSI7" in unknown.text
    assert [entry["fault"] for entry in server.log] == ["429", "ok", "nulldata", "ok", "ok"]
