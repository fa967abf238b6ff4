"""The websocket client against recorded frame sequences replayed on 127.0.0.1."""

from datetime import date

import pandas as pd
import pytest

from tvs_pipeline.errors import ConfigError, SourceError
from tvs_pipeline.market.tradingview import HistoryClient, SeriesRequest, TradingViewSource
from tvs_pipeline.market.tradingview.testing.replay_server import ReplayServer, load_script

RECORDED_SESSION = "cs_Qm4xT8vLp2Za"
ACME = "NASDAQ:ACME"
# The recorded bars open 2025-11-18 .. 2025-11-24 at 14:30 UTC; the hello says 2025-11-24 16:00.
WINDOW = (date(2025, 11, 21), date(2025, 11, 24))


def replay(frames_dir, name, fast, **settings):
    server = ReplayServer(frames_dir / f"{name}.frames").start()
    source = TradingViewSource(
        fast(ws_url=server.url, pool_size=1, connections=1, **settings),
        session_ids=lambda: RECORDED_SESSION,
    )
    return server, source


def stamps(frame):
    return frame["time"].dt.strftime("%Y-%m-%d %H:%M").tolist()


def test_a_daily_series_accumulates_updates_and_drops_the_forming_bar(frames_dir, fast):
    server, source = replay(frames_dir, "acme_daily", fast)
    with server:
        bars = source.bars([ACME], *WINDOW)
    # Three bars arrive; the du revises the last one, which is still forming at 16:00 (closes
    # 21:00 UTC), so two complete bars remain.
    assert stamps(bars) == ["2025-11-20 14:30", "2025-11-21 14:30"]
    assert bars["close"].tolist() == [103.42, 102.05]
    assert bars["volume"].tolist() == [18422310.0, 15110872.0]
    assert str(bars["time"].dtype) == "datetime64[ns, UTC]"
    sent = server.packets("create_series")
    assert sent[0]["p"][:5] == [RECORDED_SESSION, "sds_1", "s1", "sds_sym_1", "1D"]
    # From 2025-11-20 20:00 (the latest open of an earlier market day) to 2025-11-24 16:00:
    # 3.8 days, so 4 daily bars plus 2 to spare.
    assert sent[0]["p"][5] == 6
    resolve = server.packets("resolve_symbol")[0]["p"]
    assert resolve[2] == '={"adjustment":"splits","session":"regular","symbol":"NASDAQ:ACME"}'
    assert server.packets("set_auth_token")[0]["p"] == ["unauthorized_user_token"]
    assert server.packets("request_more_data") == []
    assert server.packets("remove_series")[0]["p"] == [RECORDED_SESSION, "sds_1"]


def test_every_heartbeat_is_echoed_exactly_once(frames_dir, fast):
    server, source = replay(frames_dir, "acme_daily", fast)
    with server:
        source.bars([ACME], *WINDOW)
    assert server.heartbeat_echoes() == ["~h~7", "~h~8"]


def test_paging_back_with_request_more_data_until_the_end_marker(frames_dir, fast):
    server, source = replay(frames_dir, "acme_paged", fast)
    with server:
        bars = source.bars([ACME], date(2025, 11, 17), date(2025, 11, 24))
    more = server.packets("request_more_data")
    assert len(more) == 1 and more[0]["p"][:2] == [RECORDED_SESSION, "sds_1"]
    assert stamps(bars) == [
        "2025-11-18 14:30",
        "2025-11-19 14:30",
        "2025-11-20 14:30",
        "2025-11-21 14:30",
    ]
    assert source.fetch_report().loc[0, "reason"] == "4 bars (history end)"


@pytest.mark.parametrize("name", ["batched_and_split", "malformed_and_lying"])
def test_batched_split_malformed_and_lying_frames_still_give_the_series(frames_dir, fast, name):
    server, source = replay(frames_dir, name, fast)
    with server:
        bars = source.bars([ACME], *WINDOW)
    assert stamps(bars) == ["2025-11-20 14:30", "2025-11-21 14:30"]
    anomalies = source.last_batch.anomalies
    assert bool(anomalies) == (name == "malformed_and_lying")
    if anomalies:
        assert any("length lies" in a for a in anomalies)
        assert any("malformed" in a for a in anomalies)


def test_a_mid_series_drop_reconnects_and_resumes_without_duplicates(frames_dir, fast):
    server, source = replay(frames_dir, "mid_series_drop", fast)
    with server:
        bars = source.bars([ACME], *WINDOW)
    assert len(server.received) == 2
    assert stamps(bars) == ["2025-11-20 14:30", "2025-11-21 14:30"]
    assert not bars.duplicated(["symbol", "time"]).any()
    report = source.fetch_report()
    assert report.loc[0, "status"] == "OK" and report.loc[0, "attempts"] == 2


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("invalid_symbol", "symbol_error: invalid symbol (NASDAQ:ACME)"),
        ("critical_error", "critical_error invalid parameters: method: create_series."),
    ],
    ids=["unknown-symbol", "critical-error"],
)
def test_a_refused_symbol_is_missing_with_the_service_reason(frames_dir, fast, name, reason):
    server, source = replay(frames_dir, name, fast)
    with server:
        bars = source.bars([ACME], *WINDOW)
    assert bars.empty and list(bars.columns) == [
        "symbol",
        "time",
        "open",
        "high",
        "low",
        "close",
        "volume",
    ]
    assert source.last_errors[ACME].startswith(reason)
    report = source.fetch_report()
    assert report.loc[0, "status"] == "MISSING" and report.loc[0, "reason"].startswith(reason)


def test_a_bad_token_fails_the_batch_with_one_clear_line(frames_dir, fast):
    server, source = replay(frames_dir, "bad_token", fast, token="bad-token")
    with server, pytest.raises(ConfigError, match=r"protocol_error bad auth token.*TVS_TV_TOKEN"):
        source.bars([ACME, "NASDAQ:OTHER"], *WINDOW)
    assert server.packets("set_auth_token")[0]["p"] == ["bad-token"]


def test_an_expired_token_that_only_gets_heartbeats_is_a_clear_error(frames_dir, fast):
    server = ReplayServer(frames_dir / "expired_token.frames").start()
    client = HistoryClient(
        fast(ws_url=server.url, pool_size=1, connections=1, idle_timeout=0.8),
        session_ids=lambda: RECORDED_SESSION,
    )
    since = pd.Timestamp("2025-11-19", tz="UTC").timestamp()
    with server, pytest.raises(ConfigError, match=r"heartbeats only.*token has probably expired"):
        client.fetch([SeriesRequest("NASDAQ:A", since), SeriesRequest("NASDAQ:B", since)])
    assert server.heartbeat_echoes()[:3] == ["~h~7", "~h~8", "~h~9"]


def test_a_host_that_refuses_connections_is_a_clear_error(fast):
    source = TradingViewSource(fast(ws_url="ws://127.0.0.1:9/socket.io/websocket", reconnects=1))
    with pytest.raises(SourceError, match=r"cannot connect to ws://127\.0\.0\.1:9"):
        source.bars([ACME], *WINDOW)


def test_replay_scripts_split_into_connections_and_triggers(frames_dir):
    scripts = load_script(frames_dir / "mid_series_drop.frames")
    assert len(scripts) == 2
    assert [trigger for trigger, _ in scripts[0].blocks] == ["create_series"]
    assert scripts[0].blocks[0][1][-1] == "@drop"
