"""A local stand-in for the TradingView scanner: ``POST /<market>/scan`` on 127.0.0.1.

It validates fields, filters (``filter`` and the ``filter2`` tree), sorts (``nullsFirst``) and
pages (``range`` as ``[start, end)``) a fixture universe, answers with the real body shapes
(``{"totalCount", "data": [{"s", "d"}]}``, 400 ``Unknown field``), stamps every answer with
the simulated clock in ``Date``, and injects faults from a script (429 with or without
``Retry-After``, 5xx, slow answers, reset connections, malformed bodies). Each point the
protocol reference marks unverified is an option of ``ScannerOptions``.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FAULTS", "ScannerOptions", "ScannerServer", "evaluate_expression"]

FAULTS = (
    "429",
    "500",
    "502",
    "503",
    "timeout",
    "reset",
    "badjson",
    "nulldata",
    "error200",
    "shortrow",
)
SCAN_PATH = re.compile(r"^/([a-z0-9_]+)/scan(?:\?.*)?$")


@dataclass(frozen=True)
class ScannerOptions:
    """Switches for the scanner behaviours no capture shows (all unverified upstream).

    Attributes
    ----------
    default_range : int
        Rows answered when the body has no ``range``.
    unknown_market_status : int
        Status for ``/<unknown market>/scan`` (a 404 is reported, body unknown).
    past_end : str
        ``empty``: a range past ``totalCount`` returns no rows; ``error``: HTTP 400.
    negative_range_status : int
        Status for a negative ``range`` bound.
    retry_after : float or None
        ``Retry-After`` seconds sent with an injected 429 (None: no header).
    timeout_seconds : float
        How long a ``timeout`` fault stalls before answering.
    require_user_agent : bool
        Answer 403 when the request has no browser-like ``User-Agent`` (a WAF).
    ignore_case_match : bool
        ``match``/``nmatch`` are case-insensitive regular expressions.
    data_first : bool
        Put ``data`` before ``totalCount`` in the body (key order varies in captures).
    latency : float
        Seconds added to every answer.
    """

    default_range: int = 50
    unknown_market_status: int = 404
    past_end: str = "empty"
    negative_range_status: int = 400
    retry_after: float | None = None
    timeout_seconds: float = 2.0
    require_user_agent: bool = False
    ignore_case_match: bool = True
    data_first: bool = False
    latency: float = 0.0


class _BadRequest(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status, self.body = status, body


def _unknown(field: str) -> _BadRequest:
    return _BadRequest(400, {"totalCount": 0, "error": f'Unknown field "{field}"', "data": None})


def _column(frame: pd.DataFrame, name: Any, ignore_unknown: bool) -> pd.Series:
    if not isinstance(name, str) or name not in frame.columns:
        if ignore_unknown:
            return pd.Series(np.nan, index=frame.index, dtype="object")
        raise _unknown(str(name))
    return frame[name]


def _operand(frame: pd.DataFrame, value: Any) -> Any:
    """A right-hand side: another column when it names one, else the literal."""
    if isinstance(value, str) and value in frame.columns and value != "ticker":
        return frame[value]
    return value


def evaluate_expression(
    frame: pd.DataFrame, expression: dict[str, Any], ignore_unknown: bool, ignore_case: bool
) -> pd.Series:
    """Rows of ``frame`` passing one ``{left, operation, right}`` expression (null fails)."""
    left = _column(frame, expression.get("left"), ignore_unknown)
    op, right = expression.get("operation"), expression.get("right")
    present = left.notna()
    if op in ("empty", "nempty"):
        return ~present if op == "empty" else present
    if op in ("greater", "egreater", "less", "eless", "equal", "nequal"):
        other = _operand(frame, right)
        compare = {
            "greater": lambda a, b: a > b,
            "egreater": lambda a, b: a >= b,
            "less": lambda a, b: a < b,
            "eless": lambda a, b: a <= b,
            "equal": lambda a, b: a == b,
            "nequal": lambda a, b: a != b,
        }[op]
        try:
            hit = compare(left, other)
        except TypeError as err:
            raise _BadRequest(
                400, {"totalCount": 0, "error": f"could not process request: {err}"}
            ) from err
        return present & pd.Series(hit, index=frame.index).fillna(False).astype(bool)
    if op in ("in_range", "not_in_range"):
        if not isinstance(right, list):
            raise _BadRequest(400, {"totalCount": 0, "error": f"{op} needs a list"})
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in right)
        columns = all(isinstance(v, str) and v in frame.columns for v in right)
        if len(right) == 2 and (numeric or columns):
            low, high = _operand(frame, right[0]), _operand(frame, right[1])
            inside = ((left >= low) & (left <= high)).fillna(False).astype(bool)
        else:
            inside = left.isin(right)
        return present & (inside if op == "in_range" else ~inside)
    if op in ("match", "nmatch"):
        pattern = re.compile(str(right), re.IGNORECASE if ignore_case else 0)
        hit = left.map(lambda v: bool(pattern.search(str(v))) if v is not None else False)
        hit = hit.astype(bool)
        return present & (hit if op == "match" else ~hit)
    if op in ("has", "has_none_of"):
        wanted = set(right if isinstance(right, list) else [right])
        hit = left.map(lambda v: bool(wanted & set(v)) if isinstance(v, list | tuple) else False)
        return present & (hit.astype(bool) if op == "has" else ~hit.astype(bool))
    raise _BadRequest(400, {"totalCount": 0, "error": f"Unknown operation {op!r}"})


def _tree(frame: pd.DataFrame, node: dict[str, Any], ignore: bool, case: bool) -> pd.Series:
    """A ``filter2`` node: ``{operator, operands: [{expression} | {operation}]}``."""
    parts = []
    for operand in node.get("operands", []):
        if "expression" in operand:
            parts.append(evaluate_expression(frame, operand["expression"], ignore, case))
        else:
            parts.append(_tree(frame, operand["operation"], ignore, case))
    if not parts:
        return pd.Series(True, index=frame.index)
    out = parts[0]
    for part in parts[1:]:
        out = (out & part) if node.get("operator") == "and" else (out | part)
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or value is None:
        return None
    return value


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def date_time_string(self, timestamp: float | None = None) -> str:
        return format_datetime(self.server.owner.now(), usegmt=True)

    def do_POST(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fault = owner.next_fault()
        owner.log.append(
            {"path": self.path, "body": raw.decode("utf-8", "replace"), "fault": fault}
        )
        if owner.options.latency:
            time.sleep(owner.options.latency)
        if fault == "reset":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault == "timeout":
            time.sleep(owner.options.timeout_seconds)
        if fault in ("429", "500", "502", "503"):
            headers = {}
            if fault == "429" and owner.options.retry_after is not None:
                headers["Retry-After"] = f"{owner.options.retry_after:g}"
            self._send(int(fault), "Too Many Requests" if fault == "429" else "error", headers)
            return
        if fault == "badjson":
            self._send(200, '{"totalCount": 3, "data": [{"s": "NASDAQ:AC')
            return
        if fault == "nulldata":
            self._send(200, json.dumps({"totalCount": 0, "data": None}))
            return
        if fault == "shortrow":
            self._send(200, json.dumps({"totalCount": 1, "data": [{"s": "NYSE:X", "d": [1.0]}]}))
            return
        if fault == "error200":
            self._send(200, json.dumps({"totalCount": 0, "error": "internal error", "data": []}))
            return
        try:
            status, body = 200, owner.answer(self.path, raw, self.headers)
        except _BadRequest as err:
            status, body = err.status, err.body
        self._send(status, json.dumps(body, allow_nan=False))

    def _send(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: ScannerServer


class ScannerServer:
    """The scanner on ``127.0.0.1:<free port>``; a context manager that stops itself.

    Parameters
    ----------
    universe : callable
        ``market -> DataFrame`` of ``ticker`` (``EXCHANGE:TICKER``) and field columns, or None
        for an unknown market; ``global`` asks for every market at once (``markets`` list).
    clock : callable
        The simulated UTC now (sent as ``Date``).
    options : ScannerOptions, optional
        The unverified behaviours.
    faults : iterable of str, optional
        Faults of the next requests, in order (``FAULTS``; ``ok`` for a normal answer).
    max_lifetime : float
        Seconds after which the server shuts itself down.
    """

    def __init__(
        self,
        universe: Callable[[str], pd.DataFrame | None],
        clock: Callable[[], datetime],
        options: ScannerOptions | None = None,
        faults: Iterable[str] = (),
        max_lifetime: float = 600.0,
    ) -> None:
        self.universe = universe
        self.now = clock
        self.options = options or ScannerOptions()
        self.faults: deque[str] = deque(faults)
        self.log: list[dict[str, Any]] = []
        self.max_lifetime = max_lifetime
        self._lock = threading.Lock()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def url(self) -> str:
        """Base URL (``http://127.0.0.1:<port>``): set ``TVS_TV_SCANNER_URL`` to it."""
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add_faults(self, *faults: str) -> None:
        """Queue faults for the next requests."""
        with self._lock:
            self.faults.extend(faults)

    def next_fault(self) -> str:
        """Take the next queued fault (``ok`` when none is left)."""
        with self._lock:
            return self.faults.popleft() if self.faults else "ok"

    def start(self) -> ScannerServer:
        """Bind a free port and serve in a daemon thread."""
        self._server = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.max_lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ScannerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, path: str, raw: bytes, headers: Any) -> dict[str, Any]:
        """The JSON answer of one scan request (raises ``_BadRequest`` for a 4xx)."""
        options = self.options
        if options.require_user_agent and "Mozilla" not in (headers.get("User-Agent") or ""):
            raise _BadRequest(403, {"error": "Forbidden"})
        found = SCAN_PATH.match(path)
        if found is None:
            raise _BadRequest(404, {"error": f"no route {path}"})
        try:
            body = json.loads(raw or b"{}")
        except ValueError as err:
            raise _BadRequest(400, {"totalCount": 0, "error": "could not parse body"}) from err
        market = found.group(1)
        frame = self._frame(market, body)
        ignore = bool(body.get("ignore_unknown_fields", False))
        case = options.ignore_case_match
        columns = list(body.get("columns") or [])
        for name in columns:
            if name not in frame.columns and not ignore:
                raise _unknown(name)
        mask = pd.Series(True, index=frame.index)
        for expression in body.get("filter") or []:
            mask &= evaluate_expression(frame, expression, ignore, case)
        if body.get("filter2"):
            mask &= _tree(frame, body["filter2"], ignore, case)
        rows = frame.loc[mask]
        sort = body.get("sort")
        if sort:
            key = _column(rows, sort.get("sortBy"), ignore)
            order = np.argsort(
                key.rank(method="first", ascending=sort.get("sortOrder") == "asc", na_option="keep")
                .fillna(-1 if sort.get("nullsFirst") else len(rows) + 1)
                .to_numpy(),
                kind="stable",
            )
            rows = rows.iloc[order]
        start, end = body.get("range") or [0, options.default_range]
        if start < 0 or end < 0:
            raise _BadRequest(options.negative_range_status, {"totalCount": 0, "error": "range"})
        if start >= len(rows) > 0 and options.past_end == "error":
            raise _BadRequest(400, {"totalCount": 0, "error": "range past the end"})
        page = rows.iloc[start:end]
        values = [
            [_json_value(v) for v in _column(page, name, ignore).tolist()] for name in columns
        ]
        data = [
            {"s": ticker, "d": [column[i] for column in values]}
            for i, ticker in enumerate(page["ticker"].tolist())
        ]
        if options.data_first:
            return {"data": data, "totalCount": len(rows)}
        return {"totalCount": len(rows), "data": data}

    def _frame(self, market: str, body: dict[str, Any]) -> pd.DataFrame:
        if market == "global":
            names = body.get("markets") or []
            frames = [f for f in (self.universe(m) for m in names) if f is not None]
            if not names:
                frames = [f for f in (self.universe(m) for m in ("*",)) if f is not None]
            frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        else:
            found = self.universe(market)
            if found is None:
                raise _BadRequest(
                    self.options.unknown_market_status, {"error": f"unknown market {market}"}
                )
            frame = found
        if frame.empty and "ticker" not in frame.columns:
            frame = pd.DataFrame({"ticker": pd.Series(dtype="object")})
        tickers = (body.get("symbols") or {}).get("tickers") or []
        if tickers:
            frame = frame.loc[frame["ticker"].isin(tickers)]
        return frame.sort_values("ticker", kind="stable").reset_index(drop=True)
