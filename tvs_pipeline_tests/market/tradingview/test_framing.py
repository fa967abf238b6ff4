import json

import pytest

from tvs_pipeline.market.tradingview.framing import (
    Heartbeat,
    PacketDecoder,
    encode_packet,
    encode_packets,
    frame,
)


def recorded_messages(path):
    return [ln for ln in path.read_text().splitlines() if ln and not ln.startswith(("#", "@"))]


def test_every_recorded_message_parses_by_its_declared_length(frames_dir):
    count = 0
    for path in sorted(frames_dir.glob("*.frames")):
        decoder = PacketDecoder()
        for message in recorded_messages(path):
            count += len(decoder.feed(message))
        broken = path.name == "malformed_and_lying.frames"
        assert bool(decoder.anomalies) == broken, path.name
        assert decoder.pending == 0, path.name
    assert count > 30


def test_encode_is_compact_ascii_and_length_prefixed():
    text = encode_packet("resolve_symbol", ["cs_x", "sds_sym_1", "Société"])
    payload = text.split("~m~", 2)[2]
    assert text == f"~m~{len(payload)}~m~{payload}"
    assert payload.isascii() and " " not in payload
    assert json.loads(payload)["p"][2] == "Société"


def test_batched_packets_come_out_in_order_with_heartbeats():
    message = encode_packets([("a", [1]), ("b", [2])]) + frame("~h~12") + encode_packet("c", [])
    packets = PacketDecoder().feed(message)
    assert [p.get("m") if isinstance(p, dict) else p for p in packets] == [
        "a",
        "b",
        Heartbeat("~h~12"),
        "c",
    ]


def test_a_payload_containing_a_header_is_not_split():
    message = encode_packet("x", ["~m~5~m~hello"]) + encode_packet("y", [])
    packets = PacketDecoder().feed(message)
    assert [p["m"] for p in packets] == ["x", "y"]
    assert packets[0]["p"] == ["~m~5~m~hello"]


def test_a_message_split_at_every_position_yields_the_same_packets():
    message = encode_packets([("a", ["x" * 40]), ("b", [1, 2])]) + frame("~h~3")
    whole = PacketDecoder().feed(message)
    for cut in range(1, len(message)):
        decoder = PacketDecoder()
        got = decoder.feed(message[:cut]) + decoder.feed(message[cut:])
        assert got == whole, cut
        assert decoder.anomalies == [] and decoder.pending == 0


@pytest.mark.parametrize("delta", [-7, -1, 1, 9], ids=["short-7", "short-1", "long+1", "long+9"])
def test_a_lying_length_is_recut_at_the_next_header(delta):
    good = encode_packet("timescale_update", ["cs", {"s": [1, 2, 3]}])
    length = int(good.split("~m~")[1])
    lying = good.replace(f"~m~{length}~m~", f"~m~{length + delta}~m~", 1)
    decoder = PacketDecoder()
    packets = decoder.feed(lying + frame("~h~4") + encode_packet("series_completed", []))
    assert [p.get("m") if isinstance(p, dict) else p.text for p in packets] == [
        "timescale_update",
        "~h~4",
        "series_completed",
    ]
    assert any("length lies" in a for a in decoder.anomalies)


def test_a_length_too_long_at_the_end_of_a_message_is_recut():
    decoder = PacketDecoder()
    assert decoder.feed('~m~99~m~{"m":"du","p":[1]}') == [{"m": "du", "p": [1]}]
    assert decoder.pending == 0 and decoder.anomalies


def test_malformed_packets_and_garbage_are_dropped_and_reported():
    decoder = PacketDecoder()
    message = frame('{"m":"du","p":[') + "junk" + encode_packet("ok", []) + frame("not json")
    assert decoder.feed(message) == [{"m": "ok", "p": []}]
    assert len(decoder.anomalies) == 2  # the junk goes with the broken packet


def test_a_non_object_json_payload_is_malformed():
    decoder = PacketDecoder()
    assert decoder.feed(frame("[1,2]") + encode_packet("ok", [])) == [{"m": "ok", "p": []}]
    assert decoder.anomalies


@pytest.mark.parametrize("mode", ["codepoints", "utf8_bytes", "double_encoded"], ids=lambda m: m)
def test_non_ascii_payloads_under_every_length_reading(mode):
    payload = json.dumps(
        {"m": "symbol_resolved", "p": ["cs", "r", {"d": "NGÂN HÀNG"}]},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    if mode == "double_encoded":
        payload = payload.encode().decode("latin-1")
    length = len(payload.encode()) if mode == "utf8_bytes" else len(payload)
    message = f"~m~{length}~m~{payload}" + encode_packet("next", [])
    packets = PacketDecoder().feed(message)
    assert [p["m"] for p in packets] == ["symbol_resolved", "next"]


def test_a_split_heartbeat_waits_for_its_last_digit():
    decoder = PacketDecoder()
    assert decoder.feed("~m~5~m~~h~1") == []
    assert decoder.feed("2") == [Heartbeat("~h~12")]


def test_a_header_cut_in_two_waits_for_the_rest():
    decoder = PacketDecoder()
    message = encode_packet("a", [])
    assert decoder.feed(message[:5]) == []
    assert decoder.feed(message[5:]) == [{"m": "a", "p": []}]
    assert decoder.anomalies == []


def test_junk_after_a_real_packet_in_one_message_keeps_the_packet():
    # Several packets batched in one message, unframed text after the first: the packets are
    # all well framed, so every one is kept and only the junk (counted once) is dropped.
    bars = encode_packet("timescale_update", ["cs", {"sds_1": {"s": [{"i": 0, "v": [1, 2]}]}}])
    done = encode_packet("series_completed", ["cs", "sds_1", "streaming", "s1", {}])
    decoder = PacketDecoder()
    packets = decoder.feed(bars + "<junk after a packet>" + done)
    assert [p["m"] for p in packets] == ["timescale_update", "series_completed"]
    assert decoder.junk == 1 and len(decoder.anomalies) == 1
    assert "<junk after a packet>" in decoder.anomalies[0]


def test_junk_at_the_end_of_a_message_keeps_the_packet_before_it():
    decoder = PacketDecoder()
    packets = decoder.feed(encode_packet("series_completed", []) + "trailing junk")
    assert packets == [{"m": "series_completed", "p": []}]
    assert decoder.junk == 1 and decoder.pending == 0
