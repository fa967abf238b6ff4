from datetime import date

import numpy as np
import pandas as pd
import pytest

from tvs_pipeline.config.schema import HealthConfig
from tvs_pipeline.errors import LookAheadError
from tvs_pipeline.funnel.calendars import sessions
from tvs_pipeline.funnel.health import (
    classify_health,
    judge_day,
    ok_share_by_sleeve,
    sleeves_below_floor,
)

AS_OF = date(2025, 6, 30)
LOOKBACK = 200
FLOOR = 90


def bars_on(symbol: str, days: pd.DatetimeIndex, closes=None) -> pd.DataFrame:
    n = len(days)
    close = np.asarray(
        closes if closes is not None else 100 * np.cumprod(1 + 0.001 * np.sin(np.arange(n) + 1))
    )
    return pd.DataFrame(
        {
            "symbol": symbol,
            "market_date": days,
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": 1e6,
        }
    )


def equity_days(start="2024-12-13", end=AS_OF) -> pd.DatetimeIndex:
    return sessions("XNYS", start, end)


def crypto_days(start="2024-12-13", end=AS_OF) -> pd.DatetimeIndex:
    return sessions("24/7", start, end)


def classify(frames: dict[str, tuple[pd.DataFrame, str]]) -> pd.DataFrame:
    bars = pd.concat([f for f, _ in frames.values()], ignore_index=True)
    listings = pd.DataFrame(
        {
            "symbol": list(frames),
            "sleeve": "s",
            "asset_class": [c for _, c in frames.values()],
            "calendar": ["24/7" if c == "crypto" else "XNYS" for _, c in frames.values()],
        }
    )
    out = classify_health(bars, listings, AS_OF, LOOKBACK, FLOOR, HealthConfig())
    return out.set_index("symbol")


def test_clean_listing_is_ok():
    table = classify({"E:OK": (bars_on("E:OK", equity_days()), "equity")})
    assert table.loc["E:OK", "status"] == "OK"
    assert table.loc["E:OK", "missing_sessions"] == 0


def test_holidays_are_not_gaps():
    days = equity_days()
    assert pd.Timestamp("2025-01-01") not in days  # New Year: not a session
    assert classify({"E:A": (bars_on("E:A", days), "equity")}).loc["E:A", "status"] == "OK"


def test_one_missing_session_is_tolerated_and_counted():
    days = equity_days().delete(50)
    row = classify({"E:G1": (bars_on("E:G1", days), "equity")}).loc["E:G1"]
    assert row["status"] == "OK" and row["missing_sessions"] == 1
    assert "1 missing session tolerated" in row["reason"]


@pytest.mark.parametrize(
    ("missing", "longest"),
    [([50, 51], 2), ([20, 21, 80], 2), ([10, 11, 12, 13, 14], 5)],
    ids=["run-2", "run-2-and-a-single", "run-5"],
)
def test_two_or_more_consecutive_missing_sessions_are_gaps(missing, longest):
    days = equity_days().delete(missing)
    row = classify({"E:G": (bars_on("E:G", days), "equity")}).loc["E:G"]
    assert row["status"] == "GAPS"
    assert row["missing_sessions"] == len(missing) and row["longest_gap"] == longest
    assert row["reason"].startswith(f"{longest} consecutive missing sessions")


@pytest.mark.parametrize("missing", [[20, 80], [5, 30, 60, 90, 120]], ids=["two", "five"])
def test_isolated_single_session_gaps_are_tolerated_however_many(missing):
    days = equity_days().delete(missing)
    row = classify({"E:S": (bars_on("E:S", days), "equity")}).loc["E:S"]
    assert row["status"] == "OK"
    assert row["missing_sessions"] == row["isolated_gaps"] == len(missing)
    assert row["longest_gap"] == 1


def test_stale_listing():
    days = crypto_days(end="2025-06-20")
    row = classify({"C:S": (bars_on("C:S", days), "crypto")}).loc["C:S"]
    assert row["status"] == "STALE" and row["stale_days"] == 10


def test_equity_long_weekend_is_not_stale():
    days = equity_days(end="2025-06-27")  # Friday; as-of Monday 30th lacks one bar only
    row = classify({"E:W": (bars_on("E:W", days), "equity")}).loc["E:W"]
    assert row["status"] == "OK"


def test_short_history():
    days = crypto_days(start="2025-05-01")
    row = classify({"C:Y": (bars_on("C:Y", days), "crypto")}).loc["C:Y"]
    assert row["status"] == "SHORT_HISTORY" and "below the floor of 90" in row["reason"]


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda c: np.r_[c[:100], c[100] * 10, c[101:]], "above +500%"),
        (lambda c: np.r_[c[:100], c[100] * 0.005, c[101:]], "below -99%"),
        (lambda c: np.r_[c[:100], [c[100]] * 6, c[106:]], "frozen for 6 sessions"),
        (lambda c: np.r_[c[:100], -1.0, c[101:]], "non-positive"),
    ],
    ids=["spike", "crash", "frozen", "negative"],
)
def test_toxic(mutate, needle):
    days = crypto_days()
    base = bars_on("C:T", days)["close"].to_numpy()
    row = classify({"C:T": (bars_on("C:T", days, mutate(base)), "crypto")}).loc["C:T"]
    assert row["status"] == "TOXIC"
    assert needle in row["reason"]


def test_missing_listing():
    bars = bars_on("E:A", equity_days())
    listings = pd.DataFrame(
        {"symbol": ["E:A", "E:NONE"], "sleeve": "s", "asset_class": "equity", "calendar": "XNYS"}
    )
    table = classify_health(bars, listings, AS_OF, LOOKBACK, FLOOR, HealthConfig()).set_index(
        "symbol"
    )
    assert table.loc["E:NONE", "status"] == "MISSING"
    assert table.index[0] == "E:NONE"  # most severe first


def test_severest_status_wins_and_every_reason_is_kept():
    days = crypto_days(start="2025-05-01", end="2025-06-20")
    row = classify({"C:X": (bars_on("C:X", days), "crypto")}).loc["C:X"]
    assert row["status"] == "STALE"
    assert "below the floor" in row["reason"]


def test_look_ahead_is_refused():
    bars = bars_on("C:A", crypto_days(end="2025-07-02"))
    listings = pd.DataFrame(
        {"symbol": ["C:A"], "sleeve": "s", "asset_class": "crypto", "calendar": "24/7"}
    )
    with pytest.raises(LookAheadError):
        classify_health(bars, listings, AS_OF, LOOKBACK, FLOOR, HealthConfig())


def test_inputs_unchanged_and_ok_share():
    bars = pd.concat([bars_on("E:A", equity_days()), bars_on("E:B", equity_days(end="2025-06-01"))])
    listings = pd.DataFrame(
        {"symbol": ["E:A", "E:B"], "sleeve": "s", "asset_class": "equity", "calendar": "XNYS"}
    )
    before = bars.copy()
    table = classify_health(bars, listings, AS_OF, LOOKBACK, FLOOR, HealthConfig())
    pd.testing.assert_frame_equal(bars, before)
    share = ok_share_by_sleeve(table)
    assert share.loc[0, "ok_share"] == 0.5


def test_changing_the_frozen_limit_changes_the_verdict():
    days = crypto_days()
    close = bars_on("C:F", days)["close"].to_numpy().copy()
    close[100:104] = close[100]
    frame = bars_on("C:F", days, close)
    listings = pd.DataFrame(
        {"symbol": ["C:F"], "sleeve": "s", "asset_class": "crypto", "calendar": "24/7"}
    )
    strict = classify_health(
        frame, listings, AS_OF, LOOKBACK, FLOOR, HealthConfig(frozen_sessions=4)
    )
    loose = classify_health(
        frame, listings, AS_OF, LOOKBACK, FLOOR, HealthConfig(frozen_sessions=5)
    )
    assert strict.loc[0, "status"] == "TOXIC" and loose.loc[0, "status"] == "OK"


def test_fetch_failures_give_the_reason():
    bars = bars_on("E:A", equity_days())
    listings = pd.DataFrame(
        {"symbol": ["E:A", "E:GONE"], "sleeve": "s", "asset_class": "equity", "calendar": "XNYS"}
    )
    errors = {"E:GONE": "symbol_error: invalid symbol", "E:A": "no answer within 15s"}
    table = classify_health(
        bars, listings, AS_OF, LOOKBACK, FLOOR, HealthConfig(), fetch_errors=errors
    ).set_index("symbol")
    assert table.loc["E:GONE", "status"] == "MISSING"
    assert table.loc["E:GONE", "reason"] == "fetch failed: symbol_error: invalid symbol"
    assert table.loc["E:A", "status"] == "OK"
    assert table.loc["E:A", "reason"] == "last fetch failed: no answer within 15s"


def test_judge_day_classifies_the_days_listings_and_gates_each_sleeve():
    bars = pd.concat([bars_on("E:A", equity_days()), bars_on("C:B", crypto_days())])
    span = bars.assign(date=bars["market_date"])  # each bar fetched on its own day
    listings = pd.DataFrame(
        {
            "symbol": ["E:A", "C:B", "E:GONE"],
            "sleeve": ["equity", "crypto", "equity"],
            "asset_class": ["equity", "crypto", "equity"],
            "calendar": ["XNYS", "24/7", "XNYS"],
            "scanner": "kept out",
        }
    )
    failures = pd.DataFrame({"symbol": ["E:GONE"], "reason": ["symbol_error"]})
    policy = HealthConfig(min_ok_share=0.6)
    health, below = judge_day(span, listings, failures, AS_OF, LOOKBACK, FLOOR, policy)
    table = health.set_index("symbol")
    assert table.loc["E:GONE", "reason"] == "fetch failed: symbol_error"
    assert table.loc["E:A", "status"] == table.loc["C:B", "status"] == "OK"
    assert "scanner" not in health.columns
    assert below == {"equity": 0.5}  # one of two equity listings is OK; crypto passes
    _, none_below = judge_day(span, listings, failures, AS_OF, LOOKBACK, FLOOR, HealthConfig())
    assert none_below == {}  # 0.5 reaches the default floor of 0.5


@pytest.mark.parametrize(
    ("floor", "expected"),
    [(0.3, {}), (0.34, {"s": 0.333}), (1.0, {"s": 0.333, "t": 0.5})],
    ids=["all-pass", "one-third-fails", "floor-one"],
)
def test_sleeves_below_floor_names_each_failing_sleeve_with_its_share(floor, expected):
    health = pd.DataFrame(
        {"sleeve": ["s", "s", "s", "t", "t"], "status": ["OK", "STALE", "GAPS", "OK", "MISSING"]}
    )
    assert sleeves_below_floor(health, floor) == expected
