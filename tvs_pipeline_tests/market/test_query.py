import pandas as pd
import pytest

from tvs_pipeline.config import load_profile
from tvs_pipeline.config.schema import FilterRule
from tvs_pipeline.errors import ConfigError
from tvs_pipeline.market.query import apply_query, build_scan_query, evaluate_filter

FRAME = pd.DataFrame(
    {
        "ticker": ["A:X", "A:Y", "B:Z", "B:W"],
        "close": [10.0, 3.0, None, 50.0],
        "name": ["X", "Y", "Z", "WUSDT.P"],
    }
)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (FilterRule(column="close", op=">", value=5), [True, False, False, True]),
        (FilterRule(column="close", op="<=", value=10), [True, True, False, False]),
        (FilterRule(column="close", op="between", value=[3, 10]), [True, True, False, False]),
        (FilterRule(column="close", op="not_between", value=[3, 10]), [False, False, False, True]),
        (FilterRule(column="ticker", op="in", value=["A:X", "B:Z"]), [True, False, True, False]),
        (FilterRule(column="ticker", op="not_in", value=["A:X"]), [False, True, True, True]),
        (FilterRule(column="name", op="match", value=r"\.P$"), [False, False, False, True]),
    ],
    ids=["gt", "le", "between", "not-between", "in", "not-in", "match"],
)
def test_filters(rule, expected):
    assert evaluate_filter(FRAME, rule).tolist() == expected


def test_missing_value_never_passes():
    assert not evaluate_filter(FRAME, FilterRule(column="close", op="!=", value=1))[2]


def test_unknown_column_is_a_config_error():
    with pytest.raises(ConfigError, match="volume > 1: unknown column"):
        evaluate_filter(FRAME, FilterRule(column="volume", op=">", value=1))


def test_query_from_demo_scanner_carries_every_layer():
    scanner = next(s for s in load_profile("demo").scanners if s.name == "us_equity_trend")
    query = build_scan_query(scanner)
    columns = [rule.column for rule in query.filters]
    assert columns[:2] == ["exchange", "type"]
    assert "Value.Traded" in columns and "ADX" in columns and "Perf.3M" in columns
    assert query.sort_by == "market_cap_basic" and query.limit == 500


def test_apply_sorts_and_cuts_deterministically():
    snapshot = pd.DataFrame(
        {"ticker": ["A:B", "A:A", "A:C"], "close": [1.0, 1.0, 2.0], "exchange": ["A"] * 3}
    )
    scanner = next(s for s in load_profile("demo").scanners if s.name == "us_equity_trend")
    query = build_scan_query(scanner)
    query = type(query)(
        market="america",
        filters=(),
        columns=("close",),
        sort_by="close",
        sort_order="desc",
        limit=2,
    )
    assert apply_query(snapshot, query)["ticker"].tolist() == ["A:C", "A:A"]


def test_apply_sorts_by_a_field_it_does_not_return():
    """A forex scan sorts by Value.Traded, which is not one of the forex columns it asks for
    (presets/markets/forex.yaml): the service sorts by it and returns the columns only."""
    snapshot = pd.DataFrame(
        {"ticker": ["FX:A", "FX:B", "FX:C"], "close": [1.0, 2.0, 3.0],
         "Value.Traded": [5.0, 9.0, 7.0]}
    )  # fmt: skip
    query = build_scan_query(load_profile("demo").scanners[0])
    query = type(query)(
        market="forex", filters=(), columns=("close",), sort_by="Value.Traded",
        sort_order="desc", limit=2,
    )  # fmt: skip
    rows = apply_query(snapshot, query)
    assert rows["ticker"].tolist() == ["FX:B", "FX:C"]  # 9, then 7: by hand
    assert list(rows.columns) == ["ticker", "close"]
