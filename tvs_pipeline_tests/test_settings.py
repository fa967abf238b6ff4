"""Environment settings (tvs_pipeline/settings.py): home, lake, profile, workers, TVS_TV_*."""

import pytest

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.settings import ObjectStoreSettings, TradingViewSettings, load_settings


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
        ({"TVS_TV_RPS": "nan"}, "TVS_TV_RPS='nan': expected a finite number"),
        ({"TVS_S3_READ_TIMEOUT": "inf"}, "TVS_S3_READ_TIMEOUT='inf': expected a finite number"),
        ({"TVS_SOURCE": "yahoo"}, "TVS_SOURCE='yahoo': expected one of demo, tradingview"),
    ],
    ids=[
        "not-a-float",
        "not-an-int",
        "below-floor",
        "zero-rate",
        "no-scheme",
        "http-for-ws",
        "nan-pacing",
        "endless-timeout",
        "unknown-source",
    ],
)
def test_bad_values_are_one_line_config_errors(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


# ------------------------------------------------------------------------ home, lake, profile
def test_every_path_hangs_off_the_home(tmp_path):
    settings = load_settings({"TVS_HOME": str(tmp_path / "home")})
    home = (tmp_path / "home").resolve()
    assert settings.home == home
    assert settings.lake_root == str(home / "lake")
    assert settings.dagster_home == home / "dagster"
    assert settings.reports_dir == home / "reports"
    assert settings.ledger_dir == home / "ledger"
    assert (settings.profile, settings.source) == ("demo", None)


def test_the_default_home_is_data_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).home == (tmp_path / "data").resolve()


def test_a_relative_or_user_home_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert load_settings({"TVS_HOME": "rel/home"}).home == (tmp_path / "rel" / "home").resolve()
    assert load_settings({"TVS_HOME": "~/tvs"}).home == (tmp_path / "user" / "tvs").resolve()


def test_lake_profile_and_source_are_read(tmp_path):
    env = {
        "TVS_HOME": str(tmp_path),
        "TVS_LAKE": "s3://bucket/lake",
        "TVS_PROFILE": "nightly",
        "TVS_SOURCE": "tradingview",
    }
    settings = load_settings(env)
    assert settings.lake_root == "s3://bucket/lake"
    assert (settings.profile, settings.source) == ("nightly", "tradingview")
    empty = load_settings({"TVS_HOME": str(tmp_path), "TVS_PROFILE": "", "TVS_SOURCE": ""})
    assert (empty.profile, empty.source) == ("demo", None)  # empty means unset


def test_the_real_environment_is_read_when_none_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("TVS_HOME", str(tmp_path / "from-env"))
    monkeypatch.setenv("TVS_WORKERS", "3")
    settings = load_settings()
    assert settings.home == (tmp_path / "from-env").resolve() and settings.workers == 3


@pytest.mark.parametrize(
    ("text", "workers"), [("1", 1), ("4", 4), (" 2", 2)], ids=["one", "four", "padded"]
)
def test_workers_are_read(text, workers):
    assert load_settings({"TVS_WORKERS": text}).workers == workers


def test_workers_default_to_a_positive_count():
    assert load_settings({}).workers >= 1


@pytest.mark.parametrize(
    "text", ["0", "-2", "two", "1.5"], ids=["zero", "negative", "word", "float"]
)
def test_bad_workers_are_one_line_config_errors(text):
    with pytest.raises(ConfigError, match=f"TVS_WORKERS '{text}': expected an integer >= 1"):
        load_settings({"TVS_WORKERS": text})


def test_settings_are_frozen(tmp_path):
    settings = load_settings({"TVS_HOME": str(tmp_path)})
    with pytest.raises(AttributeError):
        settings.profile = "other"  # type: ignore[misc]


# ------------------------------------------------------------- object store (TVS_S3_*)
def test_object_store_defaults_bound_every_call():
    store = load_settings({}).object_store
    assert store == ObjectStoreSettings(
        connect_timeout=5.0, read_timeout=20.0, attempts=3, request_timeout=300.0
    )


def test_object_store_variables_are_read_and_applied(monkeypatch):
    fsspec = pytest.importorskip("fsspec")
    monkeypatch.setitem(fsspec.config.conf, "s3", {})
    env = {
        "TVS_S3_CONNECT_TIMEOUT": "1.5",
        "TVS_S3_READ_TIMEOUT": "4",
        "TVS_S3_ATTEMPTS": "2",
        "TVS_S3_REQUEST_TIMEOUT": "90",
    }
    assert load_settings(env).object_store == ObjectStoreSettings(1.5, 4.0, 2, 90.0)
    assert fsspec.config.conf["s3"]["config_kwargs"] == {
        "connect_timeout": 1.5,
        "read_timeout": 4.0,
        "retries": {"total_max_attempts": 2, "mode": "standard"},
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TVS_S3_READ_TIMEOUT": "never"}, "TVS_S3_READ_TIMEOUT='never': expected float"),
        ({"TVS_S3_CONNECT_TIMEOUT": "0"}, "TVS_S3_CONNECT_TIMEOUT='0': must be >= 0.01"),
        ({"TVS_S3_ATTEMPTS": "0"}, "TVS_S3_ATTEMPTS='0': must be >= 1"),
        ({"TVS_S3_ATTEMPTS": "1.5"}, "TVS_S3_ATTEMPTS='1.5': expected int"),
        ({"TVS_S3_REQUEST_TIMEOUT": "-1"}, "TVS_S3_REQUEST_TIMEOUT='-1': must be >= 0.01"),
    ],
    ids=["not-a-float", "zero-timeout", "no-attempt", "not-an-int", "negative-deadline"],
)
def test_bad_object_store_values_are_one_line_config_errors(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)
