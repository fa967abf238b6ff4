"""`tvs run --source tradingview` end to end against the local scanner and chart servers."""

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from tvs_pipeline.cli import main
from tvs_pipeline.config import load_profile
from tvs_pipeline.funnel.discovery import discover
from tvs_pipeline.lake.catalog import LakeReader
from tvs_pipeline.market.demo import DemoMarket
from tvs_pipeline.market.query import DEFAULT_COLUMNS
from tvs_pipeline.market.tradingview.testing import (
    ChartOptions,
    ChartServer,
    DemoFeed,
    ScannerServer,
    SimulatedClock,
)

DAY, NEXT = "2026-06-30", "2026-07-01"


@pytest.fixture(scope="module")
def demo():
    return DemoMarket(seed=7, scale=300)


@pytest.fixture(scope="module")
def picks(demo):
    """Two discovered listings: one the chart service does not know, one whose socket drops."""
    rows = demo.scan(load_profile("demo").scanners[0], date.fromisoformat(DAY))
    return rows["ticker"].iloc[3], rows["ticker"].iloc[5]


def environment(monkeypatch, tmp_path, scanner_url, ws_url, **extra):
    values = {
        "TVS_HOME": str(tmp_path / "home"),
        "TVS_TV_SCANNER_URL": scanner_url,
        "TVS_TV_WS_URL": ws_url,
        "TVS_TV_RPS": "200",
        "TVS_TV_SERIES_PER_SECOND": "500",
        "TVS_TV_POOL_SIZE": "8",
        "TVS_TV_BACKOFF_MAX": "0.05",
        "TVS_TV_IDLE_TIMEOUT": "5",
        **extra,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return tmp_path / "home"


# Discovery columns a market does not know (presets/markets): the live rows leave them empty.
NOT_ASKED = {
    "crypto": ("sector", "market_cap"),
    "forex": ("sector", "market_cap", "value_traded"),  # sorted by traded value, not shown
    "futures": ("sector", "market_cap", "base_currency"),
}


def as_stored_live(want: pd.DataFrame, rebuilt: bool) -> pd.DataFrame:
    """The demo market's own discovery as the live source stores it: empty where the market
    has no such column and, on a day rebuilt point in time, the market cap (no bar gives it)."""
    want = want.copy()
    for asset_class, columns in NOT_ASKED.items():
        mine = (want["asset_class"] == asset_class).to_numpy()
        for column in columns:
            want[column] = want[column].where(~mine)
    if rebuilt:
        want["market_cap"] = float("nan")
    return want


def read(home, asset, day):
    return LakeReader(str(home / "lake")).read(
        asset, where="date = ?", params=[date.fromisoformat(day)]
    )


@pytest.mark.slow
def test_tvs_run_on_the_live_source_then_an_incremental_rerun(
    demo, picks, monkeypatch, tmp_path, capsys
):
    unknown, dropping = picks
    clock = SimulatedClock(datetime(2026, 7, 1, 2, 0, tzinfo=UTC))
    feed = DemoFeed(demo, unknown=(unknown,))
    with (
        ScannerServer(feed.universe(clock), clock) as scanner,
        ChartServer(
            feed.history,
            clock,
            ChartOptions(heartbeat_interval=0.5),
            faults={dropping: "disconnect"},
        ) as chart,
    ):
        home = environment(monkeypatch, tmp_path, scanner.url, chart.url)
        assert main(["run", "--date", DAY, "--source", "tradingview"]) == 0
        out = capsys.readouterr()
        assert "source tradingview" in out.err and "funnel:" in out.out

        discovery = read(home, "discovery", DAY)
        expected = discover(demo, load_profile("demo").scanners, date.fromisoformat(DAY))
        assert not discovery["point_in_time"].any()  # the service's own scan of the day
        pd.testing.assert_frame_equal(
            discovery.drop(columns=["date", "point_in_time"]).reset_index(drop=True),
            as_stored_live(expected, rebuilt=False),
            check_dtype=False,
        )
        bars = read(home, "bars", DAY)
        assert unknown not in set(bars["symbol"]) and dropping in set(bars["symbol"])
        assert not bars.duplicated(["symbol", "market_date"]).any()
        health = read(home, "data_health", DAY).set_index("symbol")
        assert health.loc[unknown, "status"] == "MISSING"
        assert health.loc[unknown, "reason"].startswith("fetch failed: ")  # the service's reason
        assert (health["status"] == "OK").mean() > 0.5
        first = {
            "create": len(chart.stats.create_counts),
            "bars": chart.stats.bars_sent,
            "more": len(chart.stats.more_counts),
        }
        # Every listing once, the dropped one twice, the unknown one refused before its series.
        assert first["create"] == discovery["symbol"].nunique() + 1 - 1
        assert max(chart.stats.create_counts) <= 500 + 4  # the window, not the whole history

        # The next night: the service's clock moves a day; only the tail is asked for.
        clock.set(datetime(2026, 7, 2, 2, 0, tzinfo=UTC))
        series_before, bars_before = len(chart.stats.series), chart.stats.bars_sent
        assert main(["run", "--date", NEXT, "--source", "tradingview"]) == 0
        capsys.readouterr()
        asked = dict(chart.stats.series[series_before:])
        sent = chart.stats.bars_sent - bars_before
        known = set(bars["symbol"])
        new = set(read(home, "discovery", NEXT)["symbol"]) - known - {unknown}
        print(
            f"\nfirst run: {first['create']} series, {first['bars']} bars, {first['more']} pages;"
            f" rerun: {len(asked)} series ({len(new)} new listings), {sent} bars"
        )
        assert set(asked) == (known & set(asked)) | new
        # A stored listing asks from its last stored day minus the 3-day overlap to now
        # (07-02 02:00), + 2 to spare: 8 for one stored up to 06-30 (06-27..07-02), more for a
        # stale one (stored up to 04-08: 04-05..07-02 is 89 days, 91); a new listing asks for
        # its whole window once.
        last = bars.groupby("symbol")["market_date"].max()
        bound = {
            symbol: (pd.Timestamp("2026-07-02") - (last[symbol] - pd.Timedelta(days=3))).days + 3
            for symbol in known & set(asked)
        }
        assert all(asked[symbol] <= bound[symbol] for symbol in bound)
        assert sum(b == 8 for b in bound.values()) > 0.9 * len(bound)  # nearly all fresh
        assert all(asked[symbol] > 400 for symbol in new)
        assert len(chart.stats.more_counts) == first["more"]  # no paging on a tail
        assert sent <= sum(bound.values()) + 505 * len(new)
        rerun = read(home, "bars", NEXT)
        assert rerun["market_date"].max() == pd.Timestamp(NEXT)


@pytest.mark.slow
def test_a_discovery_with_zero_rows_fails_its_check_loudly(monkeypatch, tmp_path, capsys):
    clock = SimulatedClock(datetime(2026, 7, 1, 2, 0, tzinfo=UTC))
    empty = pd.DataFrame({"ticker": pd.Series(dtype="str")})

    def universe(market):
        return empty.assign(**{c: pd.Series(dtype="float64") for c in COLUMNS})

    with ScannerServer(universe, clock) as scanner, ChartServer(lambda s, n: None, clock) as chart:
        home = environment(monkeypatch, tmp_path, scanner.url, chart.url)
        assert main(["run", "--date", DAY, "--source", "tradingview"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tvs: error:") and "discovery_not_empty" in err[-1]
    assert not (home / "lake" / "bars").exists()


def test_a_day_after_the_services_latest_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    clock = SimulatedClock(datetime(2026, 7, 1, 2, 0, tzinfo=UTC))
    frame = pd.DataFrame({"ticker": pd.Series(dtype="str")})
    with ScannerServer(lambda m: frame.assign(**{c: 0.0 for c in COLUMNS}), clock) as scanner:
        home = environment(
            monkeypatch, tmp_path, scanner.url, "ws://127.0.0.1:9/socket.io/websocket"
        )
        assert main(["run", "--date", "2026-07-05", "--source", "tradingview"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "keeps no past" in err[-1] and "as_of 2026-07-05" in err[-1]
    assert not (home / "lake" / "discovery").exists()


@pytest.mark.slow
@pytest.mark.heavy  # minutes: `pytest -m heavy`
def test_a_30_day_backfill_on_the_live_source_rebuilds_each_days_universe(
    demo, monkeypatch, tmp_path, capsys
):
    """`tvs backfill --source tradingview` over June 2026, the service's clock at 07-01 02:00.

    Every partition is produced; 06-30 is the service's own scan, every earlier day is rebuilt
    point in time: its discovery equals the demo market's own discovery of that day, except the
    fields no bar determines (market cap: empty on past days) and those the crypto market does
    not have (sector, market cap).
    """
    clock = SimulatedClock(datetime(2026, 7, 1, 2, 0, tzinfo=UTC))
    feed = DemoFeed(demo)
    days = [d.date().isoformat() for d in pd.date_range("2026-06-01", DAY)]
    with (
        ScannerServer(feed.universe(clock), clock) as scanner,
        ChartServer(feed.history, clock) as chart,
    ):
        home = environment(monkeypatch, tmp_path, scanner.url, chart.url)
        assert main(["backfill", "--start", days[0], "--end", DAY, "--source", "tradingview"]) == 0
        err = capsys.readouterr().err
    assert "point in time" in err and "survivorship" in err  # said on the terminal
    for asset in ("discovery", "bars", "data_health", "normalization", "selection", "simulation"):
        stored = sorted(p.name for p in (home / "lake" / asset).iterdir())
        assert stored == [f"date={d}" for d in days], asset
    scanners = load_profile("demo").scanners
    for day in (days[0], days[14], DAY):
        got = read(home, "discovery", day).drop(columns="date").reset_index(drop=True)
        # every day before the service's latest is rebuilt, and its partition says so
        assert got.pop("point_in_time").eq(day != DAY).all(), day
        want = as_stored_live(discover(demo, scanners, date.fromisoformat(day)), day != DAY)
        pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-6)
    # The performance report of a day whose span holds rebuilt days counts them (issue 17):
    # the track record starts 06-01, so 06-15 holds 15 rebuilt days and 06-30 all 29 before it.
    for day, rebuilt in ((days[14], 15.0), (DAY, 29.0)):
        report = read(home, "performance_report", day).set_index("metric")["value"]
        assert report["point_in_time_days"] == rebuilt, day


def test_a_bad_endpoint_setting_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TVS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TVS_TV_WS_URL", "http://wrong")
    assert main(["run", "--date", DAY, "--source", "tradingview"]) == 2
    assert "TVS_TV_WS_URL='http://wrong': expected a URL starting with wss://" in (
        capsys.readouterr().err
    )


COLUMNS = list(DEFAULT_COLUMNS)
