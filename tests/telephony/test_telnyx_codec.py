"""Telnyx media streaming codec: every documented message, in and out, without a socket."""

from __future__ import annotations

import base64
import json

import pytest

from telephony.carriers.base import CarrierProtocolError
from telephony.carriers.telnyx import TelnyxCodec
from telephony.events import (
    CallerAudio,
    CallStarted,
    ClearAudio,
    Dtmf,
    EndCall,
    HungUp,
    MarkPlayed,
    SendAudio,
    SendMark,
)
from telephony.media import MediaFormat

CALL = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"
STREAM = "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
CONNECTED = {"event": "connected", "version": "1.0.0"}


def start(encoding: str = "PCMU", rate: int = 8000, **extra: object) -> dict:
    return {
        "event": "start",
        "sequence_number": "1",
        "stream_id": STREAM,
        "start": {
            "user_id": "3E6F995F-85F7-4705-9741-53B116D28237",
            "call_control_id": CALL,
            "call_session_id": "ff55a038-6f5d-11ef-9692-02420aeffb1f",
            "from": "+13122010094",
            "to": "+13122123456",
            "tags": ["TAG1", "TAG2"],
            "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
            "custom_parameters": {"customer_id": "customer_123", "session": "s-1"},
            "media_format": {"encoding": encoding, "sample_rate": rate, "channels": 1},
            **extra,
        },
    }


def media(payload: bytes, track: str = "inbound") -> dict:
    return {
        "event": "media",
        "sequence_number": "4",
        "media": {
            "track": track,
            "chunk": "2",
            "timestamp": "5",
            "payload": base64.b64encode(payload).decode(),
        },
        "stream_id": STREAM,
    }


def feed(codec: TelnyxCodec, *messages: dict) -> list:
    return [e for m in messages for e in codec.receive_text(json.dumps(m))]


def test_a_whole_stream_as_shared_call_events() -> None:
    codec = TelnyxCodec()
    events = feed(
        codec,
        CONNECTED,
        start(),
        media(b"\xff" * 160),
        media(b"\x00" * 160, track="outbound"),  # our own audio, echoed: not the caller
        {
            "event": "dtmf",
            "stream_id": STREAM,
            "occurred_at": "2026-01-01T00:00:00Z",
            "sequence_number": "5",
            "dtmf": {"digit": "1"},
        },
        {"event": "mark", "sequence_number": "6", "stream_id": STREAM, "mark": {"name": "s0"}},
        {
            "event": "stop",
            "sequence_number": "7",
            "stream_id": STREAM,
            "stop": {"user_id": "3E6F995F", "call_control_id": CALL},
        },
    )
    assert events == [
        CallStarted(
            CALL,
            ids=(STREAM, "ff55a038-6f5d-11ef-9692-02420aeffb1f"),
            params={"customer_id": "customer_123", "session": "s-1"},
            from_="+13122010094",
            to="+13122123456",
            encoding="mulaw",
            sample_rate=8000,
            info={"stream_id": STREAM, "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d"},
        ),
        CallerAudio(b"\xff" * 160, "mulaw", 8000),
        Dtmf("1"),
        MarkPlayed("s0"),
        HungUp("stop"),
    ]
    assert codec.fmt == MediaFormat("mulaw", 8000, 20)


def test_outbound_media_mark_and_clear_have_exactly_telnyxs_fields() -> None:
    codec = TelnyxCodec()
    feed(codec, start())
    (out,) = codec.send(SendAudio((b"\x01" * 160,)))
    payload = base64.b64encode(b"\x01" * 160).decode()
    assert json.loads(out) == {"event": "media", "media": {"payload": payload}}
    assert [json.loads(m) for m in codec.send(SendMark("s3"))] == [
        {"event": "mark", "mark": {"name": "s3"}}
    ]
    assert [json.loads(m) for m in codec.send(ClearAudio())] == [{"event": "clear"}]
    assert codec.send(EndCall()) == []  # the socket closes


def test_a_european_leg_is_a_law_both_ways() -> None:
    codec = TelnyxCodec()
    (started,) = feed(codec, start("PCMA"))
    assert (started.encoding, codec.fmt) == ("alaw", MediaFormat("alaw", 8000, 20))
    assert feed(codec, media(b"\xd5" * 160)) == [CallerAudio(b"\xd5" * 160, "alaw", 8000)]


def test_the_outbound_codec_is_read_from_the_leg_url() -> None:
    codec = TelnyxCodec({"codec": "PCMA"})
    feed(codec, start("PCMU"))
    assert codec.fmt == MediaFormat("alaw", 8000, 20)
    codec = TelnyxCodec({"codec": "L16", "rate": "16000"})
    feed(codec, start("PCMU"))
    assert codec.fmt == MediaFormat("pcm16", 16000, 20)


def test_l16_is_big_endian_on_the_wire_and_little_endian_inside() -> None:
    codec = TelnyxCodec()
    feed(codec, start("L16", 16000))
    assert feed(codec, media(b"\x12\x34" * 320)) == [CallerAudio(b"\x34\x12" * 320, "pcm16", 16000)]
    (out,) = codec.send(SendAudio((b"\x34\x12" * 320,)))
    assert base64.b64decode(json.loads(out)["media"]["payload"]) == b"\x12\x34" * 320


def test_the_streaming_auth_token_becomes_the_token_parameter() -> None:
    codec = TelnyxCodec()
    (started,) = feed(codec, CONNECTED | {"x-telnyx-streaming-auth-token": "s3cret"}, start())
    assert started.params["token"] == "s3cret"


@pytest.mark.parametrize(
    ("message", "code", "fatal"),
    [
        ("not json", "malformed", False),
        ({"event": "transcription"}, "unknown_event", False),
        ({**media(b"x"), "media": {"payload": "%%"}}, "bad_payload", False),
        ({"event": "dtmf", "stream_id": STREAM, "dtmf": {"digit": "12"}}, "malformed", False),
        ({"event": "mark", "stream_id": "other", "mark": {"name": "m"}}, "wrong_stream_id", False),
        ({"event": "mark", "stream_id": STREAM, "mark": {}}, "malformed", False),
        (
            {
                "event": "error",
                "stream_id": STREAM,
                "payload": {"code": 100003, "title": "malformed_frame", "detail": "bad"},
            },
            "carrier_reported",
            False,
        ),
        (start(), "out_of_order", False),
    ],
)
def test_bad_messages_are_typed_errors_and_the_stream_goes_on(message, code, fatal) -> None:
    codec = TelnyxCodec()
    feed(codec, start())
    with pytest.raises(CarrierProtocolError) as info:
        codec.receive_text(message if isinstance(message, str) else json.dumps(message))
    assert (info.value.code, info.value.fatal) == (code, fatal)
    assert feed(codec, media(b"\xff" * 160))  # still served


def test_media_before_start_and_unsupported_codecs_are_refused() -> None:
    with pytest.raises(CarrierProtocolError) as info:
        feed(TelnyxCodec(), media(b"\xff"))
    assert info.value.code == "out_of_order"
    with pytest.raises(CarrierProtocolError) as info:
        feed(TelnyxCodec(), start("OPUS", 48000))
    assert info.value.code == "unsupported_codec" and info.value.fatal
    with pytest.raises(CarrierProtocolError) as info:
        TelnyxCodec().receive_bytes(b"\x00")
    assert info.value.code == "binary_frame"


@pytest.mark.parametrize("options", [{"rate": "fast"}, {"codec": "G722"}, {"rate": "44100",
                                     "codec": "L16"}])  # fmt: skip
def test_a_leg_url_naming_a_codec_telnyx_cannot_send_is_refused(options: dict) -> None:
    with pytest.raises(CarrierProtocolError) as info:
        feed(TelnyxCodec(options), start())
    assert info.value.code == "unsupported_codec" and info.value.fatal
