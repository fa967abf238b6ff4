"""The TVS_TV_* settings (tvs_pipeline/settings.py), which only the live source reads."""

import pytest

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.settings import TradingViewSettings, load_settings


def test_defaults_are_the_public_service_anonymously_and_politely():
    tv = load_settings({}).tradingview
    assert tv == TradingViewSettings()
    assert tv.scanner_url == "https://scanner.tradingview.com"
    assert tv.ws_url == "wss://data.tradingview.com/socket.io/websocket"
    assert tv.anonymous and tv.token == "unauthorized_user_token"
    assert tv.requests_per_second == 1.0 and tv.connections == 2


def test_every_variable_is_read():
    env = {
        "TVS_TV_SCANNER_URL": "http://127.0.0.1:8000/",
        "TVS_TV_WS_URL": "ws://127.0.0.1:8001/socket.io/websocket",
        "TVS_TV_TOKEN": " eyJ.token ",
        "TVS_TV_RPS": "2.5",
        "TVS_TV_PAGE_SIZE": "250",
        "TVS_TV_HTTP_TIMEOUT": "3",
        "TVS_TV_HTTP_ATTEMPTS": "7",
        "TVS_TV_BACKOFF_MAX": "9",
        "TVS_TV_CONNECTIONS": "1",
        "TVS_TV_POOL_SIZE": "6",
        "TVS_TV_SERIES_PER_SECOND": "3",
        "TVS_TV_IDLE_TIMEOUT": "4",
        "TVS_TV_RECONNECTS": "0",
        "TVS_TV_SCAN_MAX_LAG_HOURS": "20",
    }
    tv = load_settings(env).tradingview
    assert tv == TradingViewSettings(
        scanner_url="http://127.0.0.1:8000",
        ws_url="ws://127.0.0.1:8001/socket.io/websocket",
        token="eyJ.token",
        requests_per_second=2.5,
        page_size=250,
        http_timeout=3.0,
        http_attempts=7,
        backoff_max=9.0,
        connections=1,
        pool_size=6,
        series_per_second=3.0,
        idle_timeout=4.0,
        reconnects=0,
        scan_max_lag_hours=20.0,
    )
    assert not tv.anonymous
    assert "eyJ" not in repr(tv)  # the token never lands in logs


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TVS_TV_RPS": "fast"}, "TVS_TV_RPS='fast': expected float"),
        ({"TVS_TV_POOL_SIZE": "2.5"}, "TVS_TV_POOL_SIZE='2.5': expected int"),
        ({"TVS_TV_CONNECTIONS": "0"}, "TVS_TV_CONNECTIONS='0': must be >= 1"),
        ({"TVS_TV_RPS": "0"}, "TVS_TV_RPS='0': must be >= 0.01"),
        ({"TVS_TV_SCANNER_URL": "scanner.tradingview.com"}, "expected a URL starting with https"),
        ({"TVS_TV_WS_URL": "https://data.tradingview.com"}, "expected a URL starting with wss"),
    ],
    ids=["not-a-float", "not-an-int", "below-floor", "zero-rate", "no-scheme", "http-for-ws"],
)
def test_bad_values_are_one_line_config_errors(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)
