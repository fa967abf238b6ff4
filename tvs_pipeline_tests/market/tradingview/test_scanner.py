"""The scanner client against the local scanner on 127.0.0.1."""

import json
import threading
import time

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.config.schema import FilterRule
from tvs_pipeline.errors import ConfigError, SourceError
from tvs_pipeline.market.query import ScanQuery
from tvs_pipeline.market.tradingview.scan_query import plan_scan
from tvs_pipeline.market.tradingview.scanner import ScannerClient
from tvs_pipeline.market.tradingview.testing import (
    ScannerOptions,
    ScannerServer,
    synthetic_universe,
)

COLUMNS = ("name", "close", "Value.Traded", "Recommend.All|240")
UNIVERSE = synthetic_universe(6000)


def universe(market):
    return UNIVERSE if market in ("america", "*") else None


def query(*rules, limit=100, sort_by="Value.Traded", order="desc", columns=COLUMNS):
    return ScanQuery(
        market="america",
        filters=tuple(rules),
        columns=tuple(columns),
        sort_by=sort_by,
        sort_order=order,
        limit=limit,
    )


def reference(frame, sort_by, ascending, limit):
    """What the service returns: stable by ticker, nulls last."""
    ordered = frame.sort_values("ticker").sort_values(
        sort_by, ascending=ascending, na_position="last", kind="stable"
    )
    return ordered.head(limit)["ticker"].tolist()


@pytest.fixture
def scanner(clock):
    with ScannerServer(universe, clock) as server:
        yield server


def client(server, fast, **changes):
    return ScannerClient(fast(scanner_url=server.url, **changes))


@pytest.mark.slow
def test_a_5000_row_scan_pages_correctly(scanner, fast):
    started = time.perf_counter()
    result = client(scanner, fast, page_size=700).scan(plan_scan(query(limit=5000), "big"), "big")
    elapsed = time.perf_counter() - started
    assert result.rows["ticker"].tolist() == reference(UNIVERSE, "Value.Traded", False, 5000)
    assert result.total == len(UNIVERSE) and result.pages == 8
    ranges = [json.loads(e["body"])["range"] for e in scanner.log]
    assert ranges == [[k * 700, (k + 1) * 700] for k in range(7)] + [[4900, 5000]]
    assert result.rows["Value.Traded"].dtype == "float64"
    print(f"5,000-row scan in {len(ranges)} pages: {elapsed:.2f}s")


def test_paging_stops_at_total_count(fast, clock):
    small = UNIVERSE.head(2345)
    with ScannerServer(lambda m: small if m == "america" else None, clock) as server:
        result = client(server, fast).scan(plan_scan(query(limit=10_000), "s"), "s")
    assert len(result.rows) == 2345 and result.pages == 3


def test_filters_sort_and_suffix_columns_run_server_side(scanner, fast):
    rules = (
        FilterRule(column="Recommend.All|240", op=">", value=0.2),
        FilterRule(column="exchange", op="in", value=["NYSE", "COMEX"]),
        FilterRule(column="close", op="between", value=[5, 200]),
    )
    q = query(*rules, limit=300, sort_by="Recommend.All|240", order="asc")
    rows = client(scanner, fast).scan(plan_scan(q, "s"), "s").rows
    mask = (
        (UNIVERSE["Recommend.All|240"] > 0.2)
        & UNIVERSE["exchange"].isin(["NYSE", "COMEX"])
        & UNIVERSE["close"].between(5, 200)
    )
    assert rows["ticker"].tolist() == reference(UNIVERSE[mask], "Recommend.All|240", True, 300)
    assert rows["ticker"].str.endswith("!").any()  # COMEX:GC1! keeps its full name


def test_ticker_lists_and_exclusions(scanner, fast):
    keep = UNIVERSE["ticker"].iloc[:40].tolist()
    rules = (
        FilterRule(column="ticker", op="in", value=[*keep, "NYSE:NOPE"]),
        FilterRule(column="ticker", op="not_in", value=keep[:5]),
    )
    result = client(scanner, fast, page_size=10).scan(plan_scan(query(*rules, limit=30), "s"), "s")
    assert scanner.log[0]["path"] == "/global/scan"
    assert len(result.rows) == 30 and not set(keep[:5]) & set(result.rows["ticker"])
    assert result.rows["ticker"].tolist() == reference(
        UNIVERSE[UNIVERSE["ticker"].isin(keep[5:])], "Value.Traded", False, 30
    )


@pytest.mark.parametrize("fault", ["429", "500", "502", "503", "timeout", "reset"])
def test_transient_faults_are_retried(scanner, fast, fault):
    scanner.options = ScannerOptions(timeout_seconds=0.6)
    scanner.add_faults(fault, fault)
    result = client(scanner, fast, http_timeout=0.3).scan(plan_scan(query(), "s"), "s")
    assert len(result.rows) == 100
    assert [e["fault"] for e in scanner.log] == [fault, fault, "ok"]


def test_retry_after_is_honoured(scanner, fast):
    scanner.options = ScannerOptions(retry_after=0.4)
    scanner.add_faults("429")
    started = time.perf_counter()
    client(scanner, fast, backoff_max=1.0).scan(plan_scan(query(), "s"), "s")
    assert time.perf_counter() - started >= 0.4


def test_a_retry_after_longer_than_the_backoff_fails_at_once(scanner, fast):
    scanner.options = ScannerOptions(retry_after=3600)
    scanner.add_faults("429")
    with pytest.raises(SourceError, match="Retry-After 3600s, longer than the longest backoff"):
        client(scanner, fast).scan(plan_scan(query(), "s"), "s")
    assert len(scanner.log) == 1


def test_retries_give_up_with_the_last_reason(scanner, fast):
    scanner.add_faults(*["503"] * 4)
    with pytest.raises(SourceError, match="failed 4 times; last: HTTP 503"):
        client(scanner, fast).scan(plan_scan(query(), "s"), "s")
    assert len(scanner.log) == 4


def test_an_unknown_column_fails_at_once_with_the_response_text(scanner, fast):
    q = query(columns=("close", "change.5"))
    with pytest.raises(ConfigError, match=r'HTTP 400: .*Unknown field \\"change.5\\"'):
        client(scanner, fast).scan(plan_scan(q, "s"), "s")
    assert len(scanner.log) == 1


@pytest.mark.parametrize(
    ("status", "market"), [(404, "mars"), (403, "america")], ids=["unknown-market", "waf"]
)
def test_other_4xx_fail_at_once(scanner, fast, status, market):
    scanner.options = ScannerOptions(require_user_agent=True)
    c = client(scanner, fast)
    if status == 403:
        c.session.headers["User-Agent"] = "python-requests"
    q = ScanQuery(
        market=market, filters=(), columns=COLUMNS, sort_by="close", sort_order="desc", limit=5
    )
    with pytest.raises(SourceError, match=f"HTTP {status}"):
        c.scan(plan_scan(q, "s"), "s")
    assert len(scanner.log) == 1


def test_the_browser_user_agent_passes_a_strict_waf(scanner, fast):
    scanner.options = ScannerOptions(require_user_agent=True)
    assert len(client(scanner, fast).scan(plan_scan(query(), "s"), "s").rows) == 100


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("badjson", "not JSON"),
        ("nulldata", "no data list"),
        ("error200", "answered with error: internal error"),
        ("shortrow", r"row 0 is not \{s, d\[4\]\}"),
    ],
)
def test_malformed_answers_are_errors_never_zero_rows(scanner, fast, fault, message):
    scanner.add_faults(fault)
    with pytest.raises(SourceError, match=message) as caught:
        client(scanner, fast, deadline=5.0).scan(plan_scan(query(), "s"), "s")
    # A fault of the source: what is left of its 5 s deadline travels with the error, so
    # the step's 60 s retry is refused at once (test_source_retry) rather than 3 x 60 s.
    assert 4.0 < caught.value.deadline_left <= 5.0


def test_a_zero_row_answer_is_zero_rows(scanner, fast):
    q = query(FilterRule(column="close", op="<", value=-1))
    result = client(scanner, fast).scan(plan_scan(q, "s"), "s")
    assert (
        result.total == 0
        and result.rows.empty
        and list(result.rows.columns) == ["ticker", *COLUMNS]
    )


def test_the_rate_limit_is_shared_by_concurrent_scanners(scanner, fast):
    settings = dict(requests_per_second=10.0, page_size=10)
    clients = [client(scanner, fast, **settings) for _ in range(2)]
    started = time.perf_counter()
    threads = [
        threading.Thread(target=c.scan, args=(plan_scan(query(limit=30), "s"), "s"))
        for c in clients
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(scanner.log) == 6
    assert time.perf_counter() - started >= 5 / 10 - 0.02


def test_the_answer_time_comes_from_the_date_header(scanner, fast, clock):
    result = client(scanner, fast).scan(plan_scan(query(limit=1), "s"), "s")
    assert result.server_time == clock()


def test_duplicate_rows_across_pages_are_dropped(fast, clock):
    frame = UNIVERSE.head(50)
    calls = {"n": 0}

    def moving(market):
        calls["n"] += 1  # the live universe shifts by one row between pages
        return frame.iloc[: 40 + calls["n"]] if market == "america" else None

    with ScannerServer(moving, clock) as server:
        rows = client(server, fast, page_size=10).scan(plan_scan(query(limit=35), "s"), "s").rows
    assert rows["ticker"].is_unique
    assert np.isin(rows["ticker"], frame["ticker"]).all()
    assert len(rows) >= 30
    assert isinstance(rows, pd.DataFrame)
