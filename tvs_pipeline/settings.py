"""Environment settings: the only module that reads environment variables."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from tvs_pipeline.errors import ConfigError
from tvs_pipeline.lake.storage import configure_object_store
from tvs_pipeline.parallel import default_workers

__all__ = ["ObjectStoreSettings", "Settings", "TradingViewSettings", "load_settings"]

DEFAULT_HOME = "./data"
DEFAULT_PROFILE = "demo"
SOURCES = ("demo", "tradingview")  # the profile's `run.source` values (config.schema)
ANONYMOUS_TOKEN = "unauthorized_user_token"


@dataclass(frozen=True)
class TradingViewSettings:
    """How the live TradingView source reaches the service, and how politely.

    Every field has a ``TVS_TV_*`` environment variable (docs/runbook.md lists them).

    Attributes
    ----------
    scanner_url : str
        ``$TVS_TV_SCANNER_URL``: base of the scanner API; queries go to ``<base>/<market>/scan``.
    ws_url : str
        ``$TVS_TV_WS_URL``: the chart websocket.
    token : str
        ``$TVS_TV_TOKEN``: the auth token sent with ``set_auth_token`` (a JWT of a logged-in
        account); anonymous when unset.
    requests_per_second : float
        ``$TVS_TV_RPS``: scanner requests per second, across every scanner of the process.
    page_size : int
        ``$TVS_TV_PAGE_SIZE``: scanner rows per ``range`` page.
    http_timeout : float
        ``$TVS_TV_HTTP_TIMEOUT``: seconds to connect and to read one scanner response.
    http_attempts : int
        ``$TVS_TV_HTTP_ATTEMPTS``: tries of one scanner request (429, 5xx, timeouts, resets).
    backoff_max : float
        ``$TVS_TV_BACKOFF_MAX``: longest wait between two tries, in seconds.
    connections : int
        ``$TVS_TV_CONNECTIONS``: websocket connections open at once.
    pool_size : int
        ``$TVS_TV_POOL_SIZE``: chart sessions fetching at once, spread over the connections.
    series_per_second : float
        ``$TVS_TV_SERIES_PER_SECOND``: new series requests per second, across the pool.
    idle_timeout : float
        ``$TVS_TV_IDLE_TIMEOUT``: seconds without a message for a series before it is abandoned.
    reconnects : int
        ``$TVS_TV_RECONNECTS``: reconnections of one websocket after a drop, per batch.
    scan_max_lag_hours : float
        ``$TVS_TV_SCAN_MAX_LAG_HOURS``: the scanner answers "now", so day D may be scanned only
        from 00:00 UTC of D+1 until this many hours later.
    deadline : float
        ``$TVS_TV_DEADLINE``: seconds the source may keep failing (transient faults, retried)
        before it gives up for good, across its own retries and the step's.
    """

    scanner_url: str = "https://scanner.tradingview.com"
    ws_url: str = "wss://data.tradingview.com/socket.io/websocket"
    token: str = field(default=ANONYMOUS_TOKEN, repr=False)
    requests_per_second: float = 1.0
    page_size: int = 1000
    http_timeout: float = 20.0
    http_attempts: int = 5
    backoff_max: float = 60.0
    connections: int = 2
    pool_size: int = 4
    series_per_second: float = 5.0
    idle_timeout: float = 15.0
    reconnects: int = 3
    scan_max_lag_hours: float = 13.0
    deadline: float = 180.0

    @property
    def anonymous(self) -> bool:
        """True when no token is configured (delayed data, free-plan limits)."""
        return self.token == ANONYMOUS_TOKEN


@dataclass(frozen=True)
class ObjectStoreSettings:
    """How long a call to an object-store lake (``s3://``) may wait, and how often it tries.

    Applied to every s3fs filesystem of the process by `lake.storage.configure_object_store`
    (botocore's ``connect_timeout``, ``read_timeout`` and standard-mode retries, and a
    deadline per request). An endpoint that accepts and stays silent fails a call after
    about ``attempts`` x ``read_timeout`` seconds plus botocore's back-off between tries; no
    call takes longer than ``attempts`` x ``request_timeout``. docs/runbook.md lists the
    variables.

    Attributes
    ----------
    connect_timeout : float
        ``$TVS_S3_CONNECT_TIMEOUT``: seconds to open a connection to the endpoint.
    read_timeout : float
        ``$TVS_S3_READ_TIMEOUT``: seconds to wait for the next bytes of an answer.
    attempts : int
        ``$TVS_S3_ATTEMPTS``: tries of one call, the first included (timeouts, resets,
        throttling and 5xx are retried; other errors are not).
    request_timeout : float
        ``$TVS_S3_REQUEST_TIMEOUT``: seconds one request may take in all, its upload or
        download included (a partition file of tens of MB on a slow link needs minutes).
    """

    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    attempts: int = 3
    request_timeout: float = 300.0


# environment variable -> (field, type, lowest allowed value)
TV_ENV: dict[str, tuple[str, type, float]] = {
    "TVS_TV_RPS": ("requests_per_second", float, 0.01),
    "TVS_TV_PAGE_SIZE": ("page_size", int, 1),
    "TVS_TV_HTTP_TIMEOUT": ("http_timeout", float, 0.01),
    "TVS_TV_HTTP_ATTEMPTS": ("http_attempts", int, 1),
    "TVS_TV_BACKOFF_MAX": ("backoff_max", float, 0.0),
    "TVS_TV_CONNECTIONS": ("connections", int, 1),
    "TVS_TV_POOL_SIZE": ("pool_size", int, 1),
    "TVS_TV_SERIES_PER_SECOND": ("series_per_second", float, 0.01),
    "TVS_TV_IDLE_TIMEOUT": ("idle_timeout", float, 0.01),
    "TVS_TV_RECONNECTS": ("reconnects", int, 0),
    "TVS_TV_SCAN_MAX_LAG_HOURS": ("scan_max_lag_hours", float, 0.0),
    "TVS_TV_DEADLINE": ("deadline", float, 1.0),
}
S3_ENV: dict[str, tuple[str, type, float]] = {
    "TVS_S3_CONNECT_TIMEOUT": ("connect_timeout", float, 0.01),
    "TVS_S3_READ_TIMEOUT": ("read_timeout", float, 0.01),
    "TVS_S3_ATTEMPTS": ("attempts", int, 1),
    "TVS_S3_REQUEST_TIMEOUT": ("request_timeout", float, 0.01),
}


@dataclass(frozen=True)
class Settings:
    """Where the project keeps its state and which profile it runs.

    Attributes
    ----------
    home : Path
        ``$TVS_HOME``: the root of the lake, the ledger, the Dagster instance and reports.
    lake_root : str
        Root of the Parquet lake; a local path or an fsspec URL (``s3://bucket/lake``).
    profile : str
        Name of the profile run by default (``$TVS_PROFILE``).
    source : str or None
        Market source overriding the profile's (``$TVS_SOURCE``), ``demo`` or ``tradingview``.
    tradingview : TradingViewSettings
        Endpoints, token and pacing of the live TradingView source (``$TVS_TV_*``).
    workers : int
        Processes a step may spread the days of a backfill over (``$TVS_WORKERS``).
    object_store : ObjectStoreSettings
        Timeouts and tries of every call to an ``s3://`` lake (``$TVS_S3_*``).
    dask_scheduler : str
        A Dask scheduler address the steps spread their days over instead of local processes
        (``$TVS_DASK_SCHEDULER``, e.g. ``tcp://10.0.0.5:8786``); empty: local processes.
    ledger_url : str
        The audit ledger in PostgreSQL (``$TVS_LEDGER``, ``postgresql://user@host/db``; the
        password from ``PGPASSWORD`` or ``~/.pgpass``); empty: the file under the home.
    chunk_days : int
        Days per run of a chunked backfill (``$TVS_CHUNK_DAYS``); 0: one run per path.
    """

    home: Path
    lake_root: str
    profile: str
    source: str | None
    tradingview: TradingViewSettings = field(default_factory=TradingViewSettings)
    workers: int = 1
    object_store: ObjectStoreSettings = field(default_factory=ObjectStoreSettings)
    dask_scheduler: str = ""
    ledger_url: str = ""
    chunk_days: int = 0

    @property
    def dagster_home(self) -> Path:
        """The Dagster instance shared by ``tvs`` and ``dagster dev``."""
        return self.home / "dagster"

    @property
    def reports_dir(self) -> Path:
        """Where human-readable reports are written."""
        return self.home / "reports"

    @property
    def ledger_dir(self) -> Path:
        """Where the hash-chained audit ledger lives (local or shared disk)."""
        return self.home / "ledger"

    @property
    def ledger(self) -> str:
        """The audit ledger: ``$TVS_LEDGER`` (PostgreSQL), else ``<ledger_dir>/audit.jsonl``."""
        return self.ledger_url or str(self.ledger_dir / "audit.jsonl")


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read the ``TVS_*`` environment: home, lake, profile, source, workers, TradingView, S3.

    Parameters
    ----------
    env : dict, optional
        The environment to read; ``os.environ`` when omitted.

    Returns
    -------
    Settings
        Absolute paths; the lake defaults to ``$TVS_HOME/lake``. The object-store bounds are
        applied to the process's s3fs filesystems on the way out
        (`lake.storage.configure_object_store`): every entry point loads the settings first.

    Raises
    ------
    ConfigError
        A ``TVS_TV_*`` or ``TVS_S3_*`` number is not a number or is below its floor, or a URL
        has no scheme.
    """
    env = dict(os.environ if env is None else env)
    home = Path(env.get("TVS_HOME") or DEFAULT_HOME).expanduser().resolve()
    lake_root = env.get("TVS_LAKE") or str(home / "lake")
    settings = Settings(
        home=home,
        lake_root=lake_root,
        profile=env.get("TVS_PROFILE") or DEFAULT_PROFILE,
        source=_source(env.get("TVS_SOURCE", "").strip()),
        tradingview=_tradingview_settings(env),
        workers=_workers(env.get("TVS_WORKERS")),
        object_store=ObjectStoreSettings(**_numbers(env, S3_ENV)),
        **_scale_out(env),
    )
    configure_object_store(settings.object_store, lake_root)
    return settings


def _source(text: str) -> str | None:
    """``$TVS_SOURCE``: the market source over the profile's, checked before anything runs."""
    if text and text not in SOURCES:
        raise ConfigError(f"TVS_SOURCE={text!r}: expected one of {', '.join(SOURCES)}")
    return text or None


def _workers(text: str | None) -> int:
    """``$TVS_WORKERS``: processes a backfill step spreads its days over (default: the cores)."""
    if not text:
        return default_workers()
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if workers < 1:
        raise ConfigError(f"TVS_WORKERS {text!r}: expected an integer >= 1")
    return workers


def _scale_out(env: dict[str, str]) -> dict[str, object]:
    """``$TVS_DASK_SCHEDULER``, ``$TVS_LEDGER`` and ``$TVS_CHUNK_DAYS``, each checked."""
    scheduler = env.get("TVS_DASK_SCHEDULER", "").strip()
    if scheduler and ":" not in scheduler:
        raise ConfigError(
            f"TVS_DASK_SCHEDULER={scheduler!r}: expected a scheduler address such as "
            "tcp://host:8786"
        )
    ledger = env.get("TVS_LEDGER", "").strip()
    if ledger and not ledger.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f"TVS_LEDGER={ledger.split('@')[-1]!r}: expected a postgresql://user@host/db URL "
            "(unset it for the ledger file under TVS_HOME)"
        )
    chunk = env.get("TVS_CHUNK_DAYS", "").strip()
    try:
        chunk_days = int(chunk) if chunk else 0
    except ValueError:
        chunk_days = -1
    if chunk_days < 0 or (chunk and chunk_days < 1):
        raise ConfigError(f"TVS_CHUNK_DAYS={chunk!r}: expected an integer >= 1")
    return {"dask_scheduler": scheduler, "ledger_url": ledger, "chunk_days": chunk_days}


def _tradingview_settings(env: dict[str, str]) -> TradingViewSettings:
    """The ``TVS_TV_*`` variables over the defaults, each checked."""
    values: dict[str, object] = {}
    for name, key, schemes in (
        ("TVS_TV_SCANNER_URL", "scanner_url", ("http://", "https://")),
        ("TVS_TV_WS_URL", "ws_url", ("ws://", "wss://")),
    ):
        url = env.get(name, "").strip()
        if url:
            if not url.startswith(schemes):
                raise ConfigError(f"{name}={url!r}: expected a URL starting with {schemes[1]}")
            values[key] = url.rstrip("/") if key == "scanner_url" else url
    if env.get("TVS_TV_TOKEN", "").strip():
        values["token"] = env["TVS_TV_TOKEN"].strip()
    return TradingViewSettings(**values, **_numbers(env, TV_ENV))


def _numbers(env: dict[str, str], table: dict[str, tuple[str, type, float]]) -> dict[str, object]:
    """The set variables of ``table`` (name -> field, type, floor), each parsed and checked."""
    values: dict[str, object] = {}
    for name, (key, kind, floor) in table.items():
        text = env.get(name, "").strip()
        if not text:
            continue
        try:
            value = kind(text)
        except ValueError as err:
            raise ConfigError(f"{name}={text!r}: expected {kind.__name__}") from err
        if not math.isfinite(value):  # `nan < floor` is false: NaN would pass unnoticed
            raise ConfigError(f"{name}={text!r}: expected a finite number")
        if value < floor:
            raise ConfigError(f"{name}={text!r}: must be >= {floor:g}")
        values[key] = value
    return values
