"""chan_websocket codec: both control forms, every notification, commands, frame sizes."""

from __future__ import annotations

import json

import pytest

from telephony.carriers.asterisk import AsteriskWebSocketCodec, plain_fields
from telephony.carriers.base import CarrierProtocolError
from telephony.events import (
    CallerAudio,
    CallStarted,
    ClearAudio,
    Dtmf,
    EndCall,
    FlowControl,
    MarkPlayed,
    SendAudio,
    SendMark,
)
from telephony.media import MediaFormat

CHANNEL_ID = "1761245643.1"
PLAIN_START = (
    "MEDIA_START connection_id:media_connection1 channel:WebSocket/media_connection1/0x5140001a0040"
    f" channel_id:{CHANNEL_ID} format:ulaw optimal_frame_size:160 ptime:20"
)
JSON_START = {
    "event": "MEDIA_START",
    "connection_id": "media_connection1",
    "channel": "WebSocket/media_connection1/0x5140001a0040",
    "channel_id": CHANNEL_ID,
    "format": "ulaw",
    "optimal_frame_size": 160,
    "ptime": 20,
    "channel_variables": {
        "DIALEDPEERNUMBER": "media_connection1/c(ulaw)",
        "MEDIA_WEBSOCKET_CONNECTION_ID": "media_connection1",
        "MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE": "160",
    },
}
STARTED = CallStarted(
    CHANNEL_ID,
    ids=("media_connection1",),
    encoding="mulaw",
    sample_rate=8000,
    info={
        "channel": "WebSocket/media_connection1/0x5140001a0040",
        "connection_id": "media_connection1",
    },
)


def test_plain_text_media_start_dtmf_marks_and_flow_control() -> None:
    codec = AsteriskWebSocketCodec()
    events = [
        e
        for m in (
            PLAIN_START,
            f"DTMF_END digit:5 channel_id:{CHANNEL_ID}",
            "DTMF_END digit:#",  # the form before channel_id was added
            "MEDIA_MARK_PROCESSED voxgate-s0",
            "MEDIA_XOFF",
            "MEDIA_XON",
            "MEDIA_BUFFERING_COMPLETED b1",
            "QUEUE_DRAINED",
            f"STATUS channel_id:{CHANNEL_ID} queue_length:43 xon_level:800 xoff_level:900 "
            "queue_full:false bulk_media:true media_paused:false",
        )
        for e in codec.receive_text(m)
    ]
    assert events == [STARTED, Dtmf("5"), Dtmf("#"), MarkPlayed("voxgate-s0"),
                      FlowControl(True), FlowControl(False)]  # fmt: skip
    assert not codec.json_control and codec.fmt == MediaFormat("mulaw", 8000, 20)


def test_json_media_start_and_notifications() -> None:
    codec = AsteriskWebSocketCodec()
    events = [
        e
        for m in (
            JSON_START,
            {"event": "DTMF_END", "channel_id": CHANNEL_ID, "digit": "7"},
            {"event": "MEDIA_MARK_PROCESSED", "channel_id": CHANNEL_ID, "correlation_id": "m1"},
            {"event": "MEDIA_MARK_PROCESSED", "channel_id": CHANNEL_ID, "correlation_id": ""},
            {"event": "MEDIA_XOFF", "channel_id": CHANNEL_ID},
            {"event": "MEDIA_BUFFERING_COMPLETED", "channel_id": CHANNEL_ID, "correlation_id": ""},
        )
        for e in codec.receive_text(json.dumps(m))
    ]
    (started, *rest) = events
    assert started.call_id == CHANNEL_ID and started.params == JSON_START["channel_variables"]
    assert rest == [Dtmf("7"), MarkPlayed("m1"), FlowControl(True)]
    assert codec.json_control


@pytest.mark.parametrize("json_form", [True, False])
def test_commands_follow_the_channels_form(json_form: bool) -> None:
    codec = AsteriskWebSocketCodec()
    codec.receive_text(json.dumps(JSON_START) if json_form else PLAIN_START)
    commands = [m for c in (SendMark("s1"), ClearAudio(), EndCall()) for m in codec.send(c)]
    if json_form:
        assert [json.loads(c) for c in commands] == [
            {"command": "MARK_MEDIA", "correlation_id": "s1"},
            {"command": "FLUSH_MEDIA"},
            {"command": "HANGUP"},
        ]
    else:
        assert commands == ["MARK_MEDIA s1", "FLUSH_MEDIA", "HANGUP"]


def test_media_is_whole_frames_under_the_message_limit() -> None:
    codec = AsteriskWebSocketCodec()
    codec.receive_text(PLAIN_START)
    frames = tuple(bytes([i]) * 160 for i in range(codec.max_frames_per_message))
    (message,) = codec.send(SendAudio(frames))
    assert len(message) % 160 == 0 and len(message) < 65_500
    assert codec.receive_bytes(b"\xff" * 160) == [CallerAudio(b"\xff" * 160, "mulaw", 8000)]
    wide = AsteriskWebSocketCodec.for_output(MediaFormat("pcm16", 24000, 20))
    assert wide.max_frames_per_message * 960 < 65_500


@pytest.mark.parametrize(
    ("fmt", "size", "expected"),
    [
        ("alaw", 160, MediaFormat("alaw", 8000, 20)),
        ("slin", 320, MediaFormat("pcm16", 8000, 20)),
        ("slin16", 640, MediaFormat("pcm16", 16000, 20)),
    ],
)
def test_the_negotiated_format_is_the_wire_format(fmt: str, size: int, expected) -> None:
    codec = AsteriskWebSocketCodec()
    codec.receive_text(json.dumps(JSON_START | {"format": fmt, "optimal_frame_size": size}))
    assert codec.fmt == expected


@pytest.mark.parametrize(
    ("start", "code"),
    [
        (JSON_START | {"format": "opus", "optimal_frame_size": 0}, "unsupported_codec"),
        (JSON_START | {"optimal_frame_size": 240}, "bad_frame_size"),
        (JSON_START | {"ptime": 15}, "unsupported_codec"),
        ({"event": "MEDIA_START", "format": "ulaw"}, "malformed"),
    ],
)
def test_a_channel_that_cannot_be_served_is_fatal(start: dict, code: str) -> None:
    with pytest.raises(CarrierProtocolError) as info:
        AsteriskWebSocketCodec().receive_text(json.dumps(start))
    assert info.value.code == code and info.value.fatal


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("", "malformed"),
        ('{"event": ', "malformed"),
        ("MEDIA_SOMETHING x:y", "unknown_event"),
        ("DTMF_END digit:?", "malformed"),
        (
            '{"event":"ERROR","channel_id":"1","error_text":"Unable to parse JSON command"}',
            "carrier_reported",
        ),
        (PLAIN_START, "out_of_order"),
    ],
)
def test_bad_notifications_are_typed_errors_and_the_channel_goes_on(message, code) -> None:
    codec = AsteriskWebSocketCodec()
    codec.receive_text(PLAIN_START)
    with pytest.raises(CarrierProtocolError) as info:
        codec.receive_text(message)
    assert info.value.code == code and not info.value.fatal
    assert codec.receive_bytes(b"\xff" * 160)


def test_media_before_media_start_is_out_of_order() -> None:
    with pytest.raises(CarrierProtocolError) as info:
        AsteriskWebSocketCodec().receive_bytes(b"\xff" * 160)
    assert info.value.code == "out_of_order"


def test_plain_fields_split_on_the_first_colon() -> None:
    assert plain_fields(["channel:WebSocket/c1/0x1", "format:ulaw", "junk"]) == {
        "channel": "WebSocket/c1/0x1",
        "format": "ulaw",
    }
