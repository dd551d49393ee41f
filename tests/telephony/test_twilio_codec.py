"""Twilio Media Streams codec: parsing real message shapes, typed errors, encoders."""

from __future__ import annotations

import base64
import json

import pytest

from telephony.carriers.twilio import (
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    StreamFormat,
    TwilioCodec,
    TwilioProtocolError,
    clear,
    mark,
    media,
)
from telephony.errors import ProtocolError

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
CALL = "CA7c1b2f1f0f4c6a1b1b1b1b1b1b1b1b1b"
ACCOUNT = "AC0123456789abcdef0123456789abcdef"
MULAW = bytes(range(160))

CONNECTED = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
START = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": ACCOUNT,
        "streamSid": SID,
        "callSid": CALL,
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"session": "abc123", "lang": "en"},
    },
    "streamSid": SID,
}


def media_msg(chunk: str = "2", timestamp: str = "5", payload: bytes = MULAW, sid: str = SID):
    return {
        "event": "media",
        "sequenceNumber": "3",
        "media": {
            "track": "inbound",
            "chunk": chunk,
            "timestamp": timestamp,
            "payload": base64.b64encode(payload).decode(),
        },
        "streamSid": sid,
    }


DTMF = {
    "event": "dtmf",
    "streamSid": SID,
    "sequenceNumber": "5",
    "dtmf": {"track": "inbound_track", "digit": "1"},
}
MARK = {"event": "mark", "sequenceNumber": "4", "streamSid": SID, "mark": {"name": "sentence-3"}}
STOP = {
    "event": "stop",
    "sequenceNumber": "6",
    "streamSid": SID,
    "stop": {"accountSid": ACCOUNT, "callSid": CALL},
}


def started() -> TwilioCodec:
    codec = TwilioCodec()
    codec.receive(json.dumps(CONNECTED))
    codec.receive(json.dumps(START))
    return codec


def test_a_whole_stream_parses_into_typed_events() -> None:
    codec = TwilioCodec()
    events = [
        codec.receive(json.dumps(m)) for m in (CONNECTED, START, media_msg(), DTMF, MARK, STOP)
    ]
    assert events == [
        Connected(protocol="Call", version="1.0.0"),
        Start(
            stream_sid=SID,
            call_sid=CALL,
            account_sid=ACCOUNT,
            tracks=("inbound",),
            custom_parameters={"session": "abc123", "lang": "en"},
            media_format=StreamFormat("audio/x-mulaw", 8000, 1),
            sequence_number=1,
        ),
        Media(SID, "inbound", chunk=2, timestamp=5, payload=MULAW, sequence_number=3),
        Dtmf("1"),  # the one DTMF event every carrier shares
        Mark(SID, "sentence-3", sequence_number=4),
        Stop(SID, ACCOUNT, CALL, sequence_number=6),
    ]
    assert codec.stream_sid == SID
    assert codec.stopped


def test_start_without_connected_is_accepted() -> None:
    codec = TwilioCodec()
    assert isinstance(codec.receive(json.dumps(START)), Start)
    assert codec.started


def test_counters_arrive_as_strings_and_leave_as_ints() -> None:
    event = started().receive(json.dumps(media_msg(chunk="123456", timestamp="2460")))
    assert isinstance(event, Media)
    assert (event.chunk, event.timestamp) == (123456, 2460)


def expect_error(codec: TwilioCodec, message: object, code: str) -> TwilioProtocolError:
    text = message if isinstance(message, str) else json.dumps(message)
    with pytest.raises(TwilioProtocolError) as info:
        codec.receive(text)
    assert info.value.code == code
    assert isinstance(info.value, ProtocolError)
    return info.value


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json{", "malformed"),
        ("[1, 2]", "malformed"),
        ({"streamSid": SID}, "malformed"),
        ({"event": "hello"}, "unknown_event"),
        ({"event": 7}, "malformed"),
        (START, "out_of_order"),
        (CONNECTED, "out_of_order"),
        (media_msg(sid="MZother"), "wrong_stream_sid"),
        (media_msg(chunk="two"), "malformed"),
        (media_msg(timestamp="-5"), "malformed"),
        ({**media_msg(), "media": {"chunk": "1", "timestamp": "1"}}, "malformed"),
        ({**media_msg(), "media": "payload"}, "malformed"),
        ({**DTMF, "dtmf": {"digit": "12"}}, "malformed"),
        ({**MARK, "mark": {}}, "malformed"),
        ({k: v for k, v in MARK.items() if k != "streamSid"}, "malformed"),
    ],
)
def test_bad_messages_after_start_raise_typed_errors(message: object, code: str) -> None:
    codec = started()
    expect_error(codec, message, code)
    # The stream survives a rejected message.
    assert isinstance(codec.receive(json.dumps(media_msg())), Media)


def test_bad_base64_payload() -> None:
    msg = media_msg()
    msg["media"]["payload"] = "!!not-base64!!"
    expect_error(started(), msg, "bad_payload")


@pytest.mark.parametrize("message", [media_msg(), DTMF, MARK, STOP])
def test_anything_before_start_is_out_of_order(message: dict) -> None:
    codec = TwilioCodec()
    codec.receive(json.dumps(CONNECTED))
    expect_error(codec, message, "out_of_order")


def test_nothing_is_accepted_after_stop() -> None:
    codec = started()
    codec.receive(json.dumps(STOP))
    expect_error(codec, media_msg(), "out_of_order")


@pytest.mark.parametrize(
    "start_body",
    [
        {**START["start"], "customParameters": {"n": 1}},
        {**START["start"], "tracks": "inbound"},
        {k: v for k, v in START["start"].items() if k != "callSid"},
    ],
)
def test_malformed_start(start_body: dict) -> None:
    expect_error(TwilioCodec(), {**START, "start": start_body}, "malformed")


def test_start_with_disagreeing_stream_sids() -> None:
    expect_error(TwilioCodec(), {**START, "streamSid": "MZother"}, "wrong_stream_sid")


def test_binary_frames_are_a_protocol_error() -> None:
    codec = started()
    for call in (lambda: codec.receive_bytes(b"\x00\x01"), lambda: codec.receive(b"{}")):
        with pytest.raises(TwilioProtocolError) as info:
            call()
        assert info.value.code == "binary_frame"


def test_outbound_messages_have_exactly_twilios_fields() -> None:
    assert json.loads(media(SID, MULAW)) == {
        "event": "media",
        "streamSid": SID,
        "media": {"payload": base64.b64encode(MULAW).decode()},
    }
    assert json.loads(mark(SID, "s1")) == {
        "event": "mark",
        "streamSid": SID,
        "mark": {"name": "s1"},
    }
    assert json.loads(clear(SID)) == {"event": "clear", "streamSid": SID}
    assert TwilioCodec.media(SID, MULAW) == media(SID, MULAW)


def test_outbound_media_round_trips_through_the_parser() -> None:
    codec = started()
    out = json.loads(media(SID, MULAW))
    out["media"].update(track="outbound", chunk="1", timestamp="0")
    event = codec.receive(json.dumps(out))
    assert isinstance(event, Media)
    assert event.payload == MULAW
