"""The ``~m~<length>~m~<payload>`` framing of the TradingView websocket, both ways.

Packets are cut by their declared length, counted in characters of the decoded text (the
captures are ASCII, where characters, UTF-16 units and bytes agree); we always send
ASCII-escaped JSON so every reading of the length is the same. A length that lies is caught by
checking that each packet ends where the next ``~m~`` begins or at the end of the buffer, and
the packet is then re-cut at the next header whose prefix is valid JSON. When no re-cut parses
but the packet at its declared length does, the packet is well framed and what follows it is
junk: the packet is kept and only the junk is dropped (and counted). A packet whose declared
length runs past the buffer is kept until the next message completes it (split frames).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Heartbeat",
    "Packet",
    "PacketDecoder",
    "encode_packet",
    "encode_packets",
    "frame",
]

HEADER = re.compile(r"~m~(\d{1,9})~m~")
PARTIAL_HEADER = re.compile(r"~(?:m(?:~(?:\d{1,9}(?:~m?)?)?)?)?\Z")
MARK = "~m~"
HEARTBEAT = "~h~"
# A split packet may wait for at most this many characters before it is declared broken.
MAX_PENDING = 64 * 1024 * 1024


@dataclass(frozen=True)
class Heartbeat:
    """A server heartbeat ``~h~<n>``; ``text`` is the payload to echo back, framed, once."""

    text: str


# A decoded packet: a JSON object (a message with ``m``/``p``, or the hello) or a heartbeat.
Packet = dict[str, Any] | Heartbeat


def frame(payload: str) -> str:
    """One framed packet: ``~m~<len(payload)>~m~<payload>``."""
    return f"{MARK}{len(payload)}{MARK}{payload}"


def encode_packet(method: str, params: list[Any]) -> str:
    """A framed ``{"m": method, "p": params}`` packet, compact and ASCII-escaped."""
    return frame(json.dumps({"m": method, "p": params}, ensure_ascii=True, separators=(",", ":")))


def encode_packets(messages: list[tuple[str, list[Any]]]) -> str:
    """Several framed packets back to back: one websocket message."""
    return "".join(encode_packet(method, params) for method, params in messages)


def _boundary(buf: str, end: int) -> bool:
    """True when a packet ending at ``end`` is followed by a header, its start, or nothing."""
    return end == len(buf) or buf.startswith(MARK, end) or bool(PARTIAL_HEADER.match(buf, end))


def _parse(payload: str) -> Packet | None:
    """The packet a payload holds, or None when it is neither a heartbeat nor a JSON object."""
    if payload.startswith(HEARTBEAT) and payload[len(HEARTBEAT) :].isdigit():
        return Heartbeat(payload)
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass
class PacketDecoder:
    """Turns websocket messages into packets; keeps a split packet until it is complete.

    Attributes
    ----------
    anomalies : list of str
        One line per repaired or dropped packet (a lying length, a malformed payload, garbage
        between packets), for the caller to log and count.
    junk : int
        Runs of unframed text dropped (after a packet, or between packets).
    """

    anomalies: list[str] = field(default_factory=list)
    junk: int = 0
    _buffer: str = ""

    @property
    def pending(self) -> int:
        """Characters held back waiting for the rest of a split packet."""
        return len(self._buffer)

    def feed(self, message: str) -> list[Packet]:
        """Every complete packet of ``message`` (after what earlier messages left pending)."""
        buf = self._buffer + message
        packets: list[Packet] = []
        pos = 0
        while pos < len(buf):
            header = HEADER.match(buf, pos)
            if header is None:
                skipped = self._skip_garbage(buf, pos)
                if skipped is None:
                    break
                pos = skipped
                continue
            start = header.end()
            end = start + int(header.group(1))
            if end > len(buf):
                repaired = self._repair(buf, start, complete=False)
                if repaired is None:
                    if len(buf) - pos > MAX_PENDING:
                        self.anomalies.append(f"split packet over {MAX_PENDING} chars: dropped")
                        pos = len(buf)
                        continue
                    break  # wait for the rest of a split packet
                packet, pos = repaired
                packets.append(packet)
                continue
            packet = _parse(buf[start:end])
            if packet is not None and _boundary(buf, end):
                packets.append(packet)
                pos = end
                continue
            repaired = self._repair(buf, start, complete=True)
            if repaired is None and packet is not None:
                packets.append(packet)  # well framed; the text after it is junk (skipped next)
                pos = end
                continue
            if repaired is None:
                following = HEADER.search(buf, start)
                pos = following.start() if following else len(buf)
                self.anomalies.append(f"malformed packet dropped: {buf[start:end][:80]!r}")
                continue
            packet, pos = repaired
            packets.append(packet)
        self._buffer = buf[pos:]
        return packets

    def _repair(self, buf: str, start: int, complete: bool) -> tuple[Packet, int] | None:
        """Re-cut a packet whose length lies: at the next header that leaves valid JSON."""
        for following in HEADER.finditer(buf, start):
            packet = _parse(buf[start : following.start()])
            if packet is not None:
                self.anomalies.append(
                    f"packet length lies: re-cut {following.start() - start} chars"
                )
                return packet, following.start()
        packet = _parse(buf[start:])
        if packet is not None and (complete or not isinstance(packet, Heartbeat)):
            self.anomalies.append(f"packet length lies: re-cut {len(buf) - start} chars")
            return packet, len(buf)
        return None

    def _skip_garbage(self, buf: str, pos: int) -> int | None:
        """Drop text that is not a packet header, up to the next header (None: wait for more)."""
        if PARTIAL_HEADER.match(buf, pos):
            return None  # a header cut in two by a message boundary
        following = HEADER.search(buf, pos)
        end = following.start() if following else len(buf)
        self.junk += 1
        self.anomalies.append(f"junk between packets dropped: {buf[pos:end][:80]!r}")
        return end
