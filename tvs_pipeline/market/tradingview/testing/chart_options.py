"""What the local chart server is told: the switches, a symbol's bars, and what it counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "PAGING_FAULTS",
    "PAGING_FAULT_PAGE",
    "RESOLUTIONS",
    "SYMBOL_FAULTS",
    "ChartOptions",
    "ChartStats",
    "SeriesData",
]

RESOLUTIONS = ("1", "3", "5", "15", "30", "45", "60", "120", "180", "240", "1D", "1W", "1M")
RESOLUTIONS += ("D", "W", "M")
SYMBOL_FAULTS = (
    "disconnect",  # half the bars, then the socket drops (no close frame)
    "malformed",  # a broken packet before the bars
    "lying_length",  # the bars' packet declares a wrong length
    "split",  # the bars' packet is cut across two websocket messages
    "silent",  # create_series is never answered
    "series_error",  # series_error with a permission reason
    "critical",  # critical_error on the chart session
    "trailing_junk",  # unframed text after the bars' packet, in the same message
    "paging_disconnect",  # the socket drops halfway through the third page of history
)
# Faults that fire while a series pages back (on request_more_data), not on create_series.
PAGING_FAULTS = frozenset({"paging_disconnect"})
PAGING_FAULT_PAGE = 3


@dataclass(frozen=True)
class SeriesData:
    """One symbol's bars as the service holds them at the simulated now.

    Attributes
    ----------
    times : ndarray
        Bar-open instants (epoch seconds, float), ascending; none after now.
    values : ndarray
        ``(n, 5)`` open, high, low, close, volume.
    bar_close_time : float
        When the last bar closes (after now when it is still forming).
    info : dict
        The ``symbol_resolved`` object.
    volume : bool
        False for series without volume (bars of 5 values).
    """

    times: np.ndarray
    values: np.ndarray
    bar_close_time: float
    info: dict[str, Any]
    volume: bool = True


@dataclass(frozen=True)
class ChartOptions:
    """Switches for every behaviour the protocol reference marks unverified.

    Attributes
    ----------
    heartbeat_interval : float
        Seconds between server heartbeats (captures carry no timing).
    heartbeat_timeout : float or None
        Close the socket when a heartbeat echo is this late (None: never).
    length_mode : str
        How a non-ASCII payload's length is counted: ``ascii`` (escaped JSON, unambiguous),
        ``codepoints``, ``utf8_bytes`` or ``double_encoded`` (UTF-8 read as Latin-1).
    strict_lengths : bool
        Answer a client packet whose length lies with ``protocol_error`` and a close.
    require_auth_first : bool
        Answer any method before ``set_auth_token`` with ``protocol_error``.
    bad_tokens, expired_tokens : frozenset of str
        Tokens refused with ``protocol_error ["bad auth token"]``; tokens that get heartbeats only.
    require_browser_headers : bool
        Refuse an upgrade without ``Origin`` and a browser ``User-Agent`` (HTTP 403).
    max_connections : int or None
        Refuse upgrades beyond this many open sockets (HTTP 429).
    redirect : str or None
        Send a hello with this ``redirect`` (a URL or a host) instead of serving.
    max_bars_per_request : int
        Bars one ``create_series`` or ``request_more_data`` answer holds at most.
    history_limit : int or None
        Bars one series may deliver in all; reaching it sends ``data_completed: limit``.
    completed_marker : str
        ``trailing``: ``data_completed`` in ``series_completed``'s last object; ``none``: never
        (the client must stop on a chunk that adds no bar).
    exhausted_reply : str
        ``empty_update``: an empty ``timescale_update`` then ``series_completed`` when no older
        bar exists; ``completed_only``: only ``series_completed``.
    older_index : str
        ``restart``: ``i`` of an older chunk starts at 0; ``negative``: it counts down from -1.
    empty_update_first : bool
        Send an empty ``timescale_update`` before the bars (seen in 2025 captures).
    resolved_late : bool
        Send ``symbol_resolved`` after the bars instead of before (order varies).
    close_on_critical : bool
        Close the socket after a ``critical_error``.
    max_chart_sessions : int or None
        ``critical_error "max sessions rate reached"`` beyond this many sessions per socket.
    batching : str
        ``reply``: every packet answering one client packet in one message (as captured);
        ``packet``: one message per packet.
    latency : float
        One-way delay of every server message, in seconds.
    update_mode : str
        ``series_completed``'s update mode.
    persistent_faults : bool
        Symbol faults fire on every request, not only the first.
    """

    heartbeat_interval: float = 10.0
    heartbeat_timeout: float | None = None
    length_mode: str = "ascii"
    strict_lengths: bool = False
    require_auth_first: bool = True
    bad_tokens: frozenset[str] = frozenset({"bad-token"})
    expired_tokens: frozenset[str] = frozenset({"expired-token"})
    require_browser_headers: bool = False
    max_connections: int | None = None
    redirect: str | None = None
    max_bars_per_request: int = 5000
    history_limit: int | None = None
    completed_marker: str = "trailing"
    exhausted_reply: str = "empty_update"
    older_index: str = "restart"
    empty_update_first: bool = False
    resolved_late: bool = False
    close_on_critical: bool = False
    max_chart_sessions: int | None = None
    batching: str = "reply"
    latency: float = 0.0
    update_mode: str = "delayed_streaming_900"
    persistent_faults: bool = False


@dataclass
class ChartStats:
    """What the server saw and sent, for tests to count."""

    connections: int = 0
    refused: int = 0
    received: dict[str, int] = field(default_factory=dict)
    create_counts: list[int] = field(default_factory=list)
    series: list[tuple[str, int]] = field(default_factory=list)  # (symbol, bar count asked)
    more_counts: list[int] = field(default_factory=list)
    bars_sent: int = 0
    messages_sent: int = 0
    heartbeats_sent: int = 0
    echoes: dict[str, int] = field(default_factory=dict)
    client_anomalies: list[str] = field(default_factory=list)
