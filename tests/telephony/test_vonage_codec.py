"""Vonage WebSocket codec: the connect message, binary audio both ways, events, commands."""

from __future__ import annotations

import json

import pytest

from telephony.carriers.base import CarrierProtocolError
from telephony.carriers.vonage import VonageCodec
from telephony.events import (
    CallerAudio,
    CallStarted,
    ClearAudio,
    Cleared,
    Dtmf,
    EndCall,
    MarkPlayed,
    SendAudio,
    SendMark,
)
from telephony.media import MediaFormat

UUID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"


def connected(rate: int = 16000, **headers: object) -> str:
    body = {"event": "websocket:connected", "content-type": f"audio/l16;rate={rate}"}
    return json.dumps(body | {"uuid": UUID, **headers})


def test_the_first_message_announces_the_call_with_its_headers() -> None:
    codec = VonageCodec()
    (started,) = codec.receive_text(
        connected(16000, conversation_uuid="CON-1", session="s-7", prop1="value1")
    )
    assert started == CallStarted(
        UUID,
        ids=("CON-1",),
        params={"conversation_uuid": "CON-1", "session": "s-7", "prop1": "value1"},
        encoding="pcm16",
        sample_rate=16000,
    )
    assert codec.fmt == MediaFormat("pcm16", 16000, 20)


def test_headers_nested_under_headers_count_too() -> None:
    codec = VonageCodec()
    msg = {"event": "websocket:connected", "content-type": "audio/l16;rate=8000",
           "headers": {"uuid": UUID, "token": "t"}, "app": {"nested": 1}}  # fmt: skip
    (started,) = codec.receive_text(json.dumps(msg))
    assert started.call_id == UUID and started.params == {"token": "t"}
    assert started.sample_rate == 8000


def test_binary_audio_and_text_events() -> None:
    codec = VonageCodec()
    codec.receive_text(connected(8000))
    assert codec.receive_bytes(b"\x01\x00" * 160) == [CallerAudio(b"\x01\x00" * 160, "pcm16", 8000)]
    events = [
        e
        for m in (
            {"event": "websocket:dtmf", "digit": "5", "duration": 260},
            {"event": "websocket:dtmf", "dtmf": {"digit": "#", "duration": 100}},
            {"event": "websocket:notify", "payload": {"voxgate_mark": "s0"}},
            {"event": "websocket:notify", "payload": {"someone": "else"}},
            {"event": "websocket:cleared"},
        )
        for e in codec.receive_text(json.dumps(m))
    ]
    assert events == [Dtmf("5"), Dtmf("#"), MarkPlayed("s0"), Cleared()]


def test_outbound_frames_are_binary_20_ms_each_and_commands_are_actions() -> None:
    codec = VonageCodec()
    codec.receive_text(connected(16000))
    frames = (b"\x01" * 640, b"\x02" * 640)
    assert codec.send(SendAudio(frames)) == list(frames)
    (notify,) = codec.send(SendMark("s2"))
    assert json.loads(notify) == {"action": "notify", "payload": {"voxgate_mark": "s2"}}
    assert [json.loads(m) for m in codec.send(ClearAudio())] == [{"action": "clear"}]
    assert codec.send(EndCall()) == []


@pytest.mark.parametrize(
    ("first", "code"),
    [
        (
            json.dumps(
                {
                    "event": "websocket:connected",
                    "content-type": "audio/l16;rate=44100",
                    "uuid": UUID,
                }
            ),
            "unsupported_codec",
        ),
        (
            json.dumps({"event": "websocket:connected", "content-type": "audio/opus"}),
            "unsupported_codec",
        ),
        (
            json.dumps({"event": "websocket:connected", "content-type": "audio/l16;rate=8000"}),
            "missing_uuid",
        ),
    ],
)
def test_a_connect_message_that_cannot_be_served_is_fatal(first: str, code: str) -> None:
    with pytest.raises(CarrierProtocolError) as info:
        VonageCodec().receive_text(first)
    assert info.value.code == code and info.value.fatal


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{{", "malformed"),
        (json.dumps({"event": "websocket:media:update"}), "unknown_event"),
        (json.dumps({"event": "websocket:dtmf", "digit": "12"}), "malformed"),
        (connected(), "out_of_order"),
        (b"\x00\x01\x02", "bad_payload"),
    ],
)
def test_bad_input_after_the_connect_is_not_fatal(message: str | bytes, code: str) -> None:
    codec = VonageCodec()
    codec.receive_text(connected())
    with pytest.raises(CarrierProtocolError) as info:
        if isinstance(message, bytes):
            codec.receive_bytes(message)
        else:
            codec.receive_text(message)
    assert info.value.code == code and not info.value.fatal
    assert codec.receive_bytes(bytes(640))


def test_audio_before_the_connect_message_is_out_of_order() -> None:
    with pytest.raises(CarrierProtocolError) as info:
        VonageCodec().receive_bytes(bytes(640))
    assert info.value.code == "out_of_order"
