"""Plivo audio stream codec: every documented message, in and out, without a socket."""

from __future__ import annotations

import base64
import json

import pytest

from telephony.carriers.base import CarrierProtocolError
from telephony.carriers.plivo import PlivoCodec, extra_headers
from telephony.events import (
    CallerAudio,
    CallStarted,
    ClearAudio,
    Cleared,
    Dtmf,
    EndCall,
    HungUp,
    MarkPlayed,
    SendAudio,
    SendMark,
)
from telephony.media import MediaFormat

CALL = "12345678-1234-1234-1234-123456789abc"
STREAM = "87654321-4321-4321-4321-cba987654321"


def start(encoding: str = "audio/x-mulaw", rate: int = 8000, headers: str = "") -> dict:
    return {
        "event": "start",
        "sequenceNumber": 1,
        "start": {
            "callId": CALL,
            "streamId": STREAM,
            "accountId": "MAXXXXXXXXXXXXXXXXXX",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": encoding, "sampleRate": rate},
        },
        "extra_headers": headers,
    }


def media(payload: bytes) -> dict:
    return {
        "event": "media",
        "sequenceNumber": 42,
        "streamId": STREAM,
        "media": {
            "track": "inbound",
            "timestamp": "1705312200000",
            "chunk": 41,
            "payload": base64.b64encode(payload).decode(),
        },
        "extra_headers": "userId=12345;sessionId=abc-xyz",
    }


def feed(codec: PlivoCodec, *messages: dict) -> list:
    return [e for m in messages for e in codec.receive_text(json.dumps(m))]


def test_a_whole_stream_as_shared_call_events() -> None:
    codec = PlivoCodec()
    events = feed(
        codec,
        start(headers="userId=12345;sessionId=abc-xyz"),
        media(b"\xff" * 160),
        {"event": "dtmf", "sequenceNumber": 43, "streamId": STREAM, "dtmf": {"digit": "5"}},
        {"event": "playedStream", "sequenceNumber": 44, "streamId": STREAM, "name": "s0"},
        {"event": "clearedAudio", "sequenceNumber": 45, "streamId": STREAM},
    )
    assert events == [
        CallStarted(
            CALL,
            ids=(STREAM,),
            params={"userId": "12345", "sessionId": "abc-xyz"},
            encoding="mulaw",
            sample_rate=8000,
            info={"stream_id": STREAM, "account_id": "MAXXXXXXXXXXXXXXXXXX"},
        ),
        CallerAudio(b"\xff" * 160, "mulaw", 8000),
        Dtmf("5"),
        MarkPlayed("s0"),
        Cleared(),
    ]
    stop = {"event": "stop", "sequenceNumber": 46, "streamId": STREAM}
    assert feed(codec, stop) == [HungUp("stop")]


def test_outbound_play_audio_checkpoint_and_clear_audio() -> None:
    codec = PlivoCodec()
    feed(codec, start())
    (play,) = codec.send(SendAudio((b"\x7f" * 160,)))
    assert json.loads(play) == {
        "event": "playAudio",
        "media": {
            "contentType": "audio/x-mulaw",
            "sampleRate": 8000,
            "payload": base64.b64encode(b"\x7f" * 160).decode(),
        },
    }
    (mark,) = codec.send(SendMark("s1"))
    assert json.loads(mark) == {"event": "checkpoint", "streamId": STREAM, "name": "s1"}
    (clear,) = codec.send(ClearAudio())
    assert json.loads(clear) == {"event": "clearAudio", "streamId": STREAM}
    assert codec.send(EndCall()) == []


def test_l16_streams_at_8_and_16_khz_little_endian() -> None:
    codec = PlivoCodec()
    (started,) = feed(codec, start("audio/x-l16", 16000))
    assert (started.encoding, started.sample_rate) == ("pcm16", 16000)
    assert codec.fmt == MediaFormat("pcm16", 16000, 20)
    assert feed(codec, media(b"\x01\x02" * 320)) == [CallerAudio(b"\x01\x02" * 320, "pcm16", 16000)]
    (play,) = codec.send(SendAudio((b"\x01\x02" * 320,)))
    assert json.loads(play)["media"]["contentType"] == "audio/x-l16"
    assert json.loads(play)["media"]["sampleRate"] == 16000


@pytest.mark.parametrize(
    ("raw", "params"),
    [
        ("userId=12345;sessionId=abc-xyz", {"userId": "12345", "sessionId": "abc-xyz"}),
        ("test1=12,test2=123", {"test1": "12", "test2": "123"}),
        ('{"session": "s1"}', {"session": "s1"}),
        ({"session": "s1"}, {"session": "s1"}),
        ("{}", {}),
        ("", {}),
        (None, {}),
        ("novalue;x=1", {"x": "1"}),
    ],
)
def test_extra_headers_become_parameters(raw: object, params: dict) -> None:
    assert extra_headers(raw) == params


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("[1]", "malformed"),
        ({"event": "transcript"}, "unknown_event"),
        ({**media(b"x"), "media": {"payload": "!!"}}, "bad_payload"),
        ({"event": "dtmf", "streamId": STREAM, "dtmf": {"digit": "55"}}, "malformed"),
        ({"event": "playedStream", "streamId": "other", "name": "s"}, "wrong_stream_id"),
        ({"event": "playedStream", "streamId": STREAM}, "malformed"),
        (start(), "out_of_order"),
    ],
)
def test_bad_messages_are_typed_errors_and_the_stream_goes_on(message: object, code: str) -> None:
    codec = PlivoCodec()
    feed(codec, start())
    with pytest.raises(CarrierProtocolError) as info:
        codec.receive_text(message if isinstance(message, str) else json.dumps(message))
    assert info.value.code == code and not info.value.fatal
    assert feed(codec, media(b"\xff" * 160))


def test_unsupported_formats_and_early_media_are_refused() -> None:
    with pytest.raises(CarrierProtocolError) as info:
        feed(PlivoCodec(), start("audio/x-mulaw", 16000))
    assert info.value.code == "unsupported_codec" and info.value.fatal
    with pytest.raises(CarrierProtocolError) as info:
        feed(PlivoCodec(), media(b"\xff"))
    assert info.value.code == "out_of_order"
