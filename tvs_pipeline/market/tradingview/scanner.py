"""The scanner HTTP client: paged ``POST <base>/<market>/scan`` with retries and a rate limit.

Retries (tenacity): HTTP 429, 5xx, timeouts, resets and a temporary resolver failure are tried
again with exponential backoff and jitter, never sooner than a ``Retry-After`` asks, each retry
announced (``faults.announce_retry``) and all of them bounded by the source's deadline
(``faults.FaultClock``); a host name that does not resolve or a refused connection fails at once
(``SourceUnavailable``, naming the host), and any other 4xx fails at once with the response
text. Every try waits for the process-wide rate limit of the scanner host, so concurrent
scanners share one budget. A 200 whose body carries ``error``, lacks ``data`` or is not JSON is a
failure, never "zero rows".
"""

from __future__ import annotations

import email.utils
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import requests
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from tvs_pipeline.errors import ConfigError, SourceError, SourceUnavailable
from tvs_pipeline.market.tradingview.connection import BROWSER_HEADERS, ORIGIN, USER_AGENT
from tvs_pipeline.market.tradingview.faults import FaultClock, announce_retry, unreachable
from tvs_pipeline.market.tradingview.pacing import shared_limiter
from tvs_pipeline.market.tradingview.scan_query import ScanPlan
from tvs_pipeline.settings import TradingViewSettings

__all__ = ["ScanResult", "ScannerClient", "TransientHTTPError"]

LOG = logging.getLogger(__name__)
HEADERS = {
    **BROWSER_HEADERS,
    "Origin": ORIGIN,
    "Referer": ORIGIN + "/",
    "User-Agent": USER_AGENT,
    "Accept": "application/json, text/plain, */*",
}
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class TransientHTTPError(Exception):
    """A try that may succeed later (429, 5xx, timeout, reset); ``retry_after`` in seconds."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class ScanResult:
    """Rows of one paged scan.

    Attributes
    ----------
    rows : DataFrame
        ``ticker`` (``EXCHANGE:TICKER``) then the query's columns, in the service's order.
    total : int
        ``totalCount`` of the last page: every match, before paging.
    pages : int
        Requests that returned a page.
    server_time : datetime or None
        The ``Date`` of the last response (UTC): the instant the scan describes.
    """

    rows: pd.DataFrame
    total: int
    pages: int
    server_time: datetime | None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds()) if when else None


def _last_words(err: BaseException) -> str:
    """The innermost message of a requests error (urllib3 nests three deep), on one line."""
    inner: BaseException = err
    while True:
        nxt = inner.__cause__ or getattr(inner, "reason", None)
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    return " ".join(str(inner).split())[:200]


def _server_time(response: requests.Response) -> datetime | None:
    value = response.headers.get("Date")
    try:
        return email.utils.parsedate_to_datetime(value).astimezone(UTC) if value else None
    except (TypeError, ValueError):
        return None


def _frame(rows: list[list[Any]], columns: list[str]) -> pd.DataFrame:
    """Rows as a frame; a column whose values are all numbers (or null) becomes float64."""
    frame = pd.DataFrame(rows, columns=["ticker", *columns])
    for column in columns:
        values = frame[column]
        present = values.dropna()
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            frame[column] = pd.to_numeric(values, errors="coerce").astype("float64")
    return frame


class ScannerClient:
    """Pages scanner queries against ``settings.scanner_url``.

    Parameters
    ----------
    settings : TradingViewSettings
        Base URL, rate, page size, timeout, tries and longest backoff.
    session : requests.Session, optional
        The HTTP session (one is created when omitted).
    faults : FaultClock, optional
        The source's deadline clock (its own, at ``settings.deadline``, when omitted).
    """

    def __init__(
        self,
        settings: TradingViewSettings,
        session: requests.Session | None = None,
        faults: FaultClock | None = None,
    ) -> None:
        self.settings = settings
        self.faults = faults or FaultClock(settings.deadline)
        self.session = session or requests.Session()
        self.session.headers.update(HEADERS)
        self.limiter = shared_limiter(
            f"scanner:{settings.scanner_url}", settings.requests_per_second
        )
        self.requests_sent = 0

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_exponential_jitter(initial=1.0, max=self.settings.backoff_max, jitter=1.0)
        delay = backoff(state)
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientHTTPError) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        if state.attempt_number >= self.settings.http_attempts:
            return 0.0  # the last try: tenacity asks for a wait before it checks the stop
        where = f"{state.args[2]}: {state.args[0]}" if len(state.args) > 2 else "scanner"
        self.faults.check(delay, where, error)
        retries = self.settings.http_attempts - 1
        announce_retry(where, state.attempt_number, retries, delay, error)
        return delay

    def post(self, market: str, body: dict[str, Any], where: str) -> tuple[dict, datetime | None]:
        """POST one body to ``<base>/<market>/scan``, with retries; the JSON and the server time.

        Raises
        ------
        ConfigError
            The service rejects a field name (``Unknown field``).
        SourceUnavailable
            The host does not resolve or refuses the connection, or the retries would run past
            the source's deadline.
        SourceError
            Any other 4xx, retries exhausted, or a body that is not a scanner answer.
        """
        url = f"{self.settings.scanner_url}/{market}/scan"
        retrying = Retrying(
            retry=retry_if_exception_type(TransientHTTPError),
            stop=stop_after_attempt(self.settings.http_attempts),
            wait=self._wait,
        )
        try:
            response = retrying(self._try, url, body, where)
        except RetryError as err:
            last = err.last_attempt.exception()
            error = SourceError(
                f"{where}: {url} failed {self.settings.http_attempts} times; last: {last}"
            )
            error.deadline_left = self.faults.left()  # type: ignore[attr-defined]
            raise error from last
        try:
            payload = self._decode(response, url, where)
        except SourceError as err:
            raise self._malformed(err) from err.__cause__
        self.faults.success()
        return payload, _server_time(response)

    def _malformed(self, error: SourceError) -> SourceError:
        """A malformed answer is a fault of the source: it counts against the deadline.

        The error carries what is left of the deadline, so the step retry (60 s) is not
        taken when the deadline is shorter (`partitions.retry_source_faults`).
        """
        self.faults.fault()
        error.deadline_left = self.faults.left()  # type: ignore[attr-defined]
        return error

    def _try(self, url: str, body: dict[str, Any], where: str) -> requests.Response:
        self.limiter.wait()
        self.requests_sent += 1
        timeout = self.settings.http_timeout
        try:
            response = self.session.post(url, json=body, timeout=(timeout, timeout))
        except requests.Timeout as err:
            raise TransientHTTPError(f"timeout after {timeout:g}s") from err
        except requests.ConnectionError as err:
            reason = unreachable(err, url)
            if reason is not None:
                raise SourceUnavailable(
                    f"{where}: {url}: {reason} (check TVS_TV_SCANNER_URL and the network)"
                ) from err
            raise TransientHTTPError(f"connection error: {_last_words(err)}") from err
        if response.status_code in RETRY_STATUSES:
            wait = _retry_after(response)
            if wait is not None and wait > self.settings.backoff_max:
                raise SourceError(
                    f"{where}: {url} answered HTTP {response.status_code} with Retry-After "
                    f"{wait:g}s, longer than the longest backoff {self.settings.backoff_max:g}s "
                    "(TVS_TV_BACKOFF_MAX): try later"
                )
            raise TransientHTTPError(f"HTTP {response.status_code}: {response.text[:200]!r}", wait)
        if response.status_code >= 400:
            text = response.text.strip().replace("\n", " ")[:300]
            error = ConfigError if "Unknown field" in text else SourceError
            raise error(f"{where}: {url} answered HTTP {response.status_code}: {text}")
        return response

    @staticmethod
    def _decode(response: requests.Response, url: str, where: str) -> dict:
        try:
            payload = response.json()
        except ValueError as err:
            raise SourceError(
                f"{where}: {url} returned a body that is not JSON: {response.text[:120]!r}"
            ) from err
        if not isinstance(payload, dict):
            raise SourceError(f"{where}: {url} returned {type(payload).__name__}, not an object")
        if payload.get("error"):
            error = ConfigError if "Unknown field" in str(payload["error"]) else SourceError
            raise error(f"{where}: {url} answered with error: {payload['error']}")
        if not isinstance(payload.get("data"), list):
            raise SourceError(
                f"{where}: {url} answer has no data list (data={payload.get('data')!r})"
            )
        if not isinstance(payload.get("totalCount"), int):
            raise SourceError(f"{where}: {url} answer has no integer totalCount")
        return payload

    def scan(self, plan: ScanPlan, name: str) -> ScanResult:
        """Every row of ``plan`` up to its limit, paged with ``range``.

        Pages of ``page_size`` rows are asked until ``totalCount`` is reached, the limit is
        met (after the plan's exclusions), or a page comes back short; duplicates across pages
        (the live universe moves) are dropped.

        Raises
        ------
        SourceError
            A page failed, or a row does not match the requested columns.
        ConfigError
            The service rejects a column.
        """
        where = f"scanner {name}"
        columns: list[str] = list(plan.query.query.get("columns", []))
        rows: list[list[Any]] = []
        seen: set[str] = set()
        start, pages, total, server_time = 0, 0, 0, None
        max_pages = 2 + (plan.limit + len(plan.exclude)) // max(1, self.settings.page_size) * 2
        while len(rows) < plan.limit and pages < max_pages:
            size = min(self.settings.page_size, plan.limit - len(rows) + len(plan.exclude))
            payload, server_time = self.post(plan.market, plan.page(start, size), where)
            pages += 1
            total = payload["totalCount"]
            data = payload["data"]
            for index, row in enumerate(data):
                if (
                    not isinstance(row, dict)
                    or not isinstance(row.get("s"), str)
                    or not isinstance(row.get("d"), list)
                    or len(row["d"]) != len(columns)
                ):
                    raise self._malformed(
                        SourceError(
                            f"{where}: row {start + index} is not {{s, d[{len(columns)}]}}: "
                            f"{str(row)[:120]}"
                        )
                    )
                ticker = row["s"]
                if ticker in seen or ticker in plan.exclude:
                    continue
                seen.add(ticker)
                rows.append([ticker, *row["d"]])
                if len(rows) >= plan.limit:
                    break
            start += len(data)
            if len(data) < size or start >= total:
                break
        if total == 0:
            LOG.warning("%s: the scanner matched no row", where)
        return ScanResult(
            rows=_frame(rows, columns), total=total, pages=pages, server_time=server_time
        )
