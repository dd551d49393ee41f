"""Exotel voicebot codec: every documented message, and chunks within Exotel's limits."""

from __future__ import annotations

import base64
import json

import pytest

from telephony.carriers.base import CarrierProtocolError
from telephony.carriers.exotel import MIN_CHUNK, ExotelCodec
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

SID = "MZxxxxxxxxxxxxxxxxxxxxxxxx"
CALL = "CAxxxxxxxxxxxxxxxxxxxxxxxx"


def start(rate: str = "8000") -> dict:
    return {
        "event": "start",
        "sequence_number": "1",
        "stream_sid": SID,
        "start": {
            "stream_sid": SID,
            "call_sid": CALL,
            "account_sid": "ACxxxxxxxxxxxxxxxxxxxxxxxx",
            "from": "+919876543210",
            "to": "+918047491899",
            "custom_parameters": {"key1": "value1"},
            "media_format": {"encoding": "audio/x-raw", "sample_rate": rate, "bit_rate": "16"},
        },
    }


def media(payload: bytes) -> dict:
    return {
        "event": "media",
        "sequence_number": "3",
        "stream_sid": SID,
        "media": {"chunk": "2", "timestamp": "200", "payload": base64.b64encode(payload).decode()},
    }


def feed(codec: ExotelCodec, *messages: dict) -> list:
    return [e for m in messages for e in codec.receive_text(json.dumps(m))]


def chunks(messages: list) -> list[bytes]:
    return [base64.b64decode(json.loads(m)["media"]["payload"]) for m in messages
            if json.loads(m)["event"] == "media"]  # fmt: skip


def test_a_whole_stream_as_shared_call_events() -> None:
    codec = ExotelCodec()
    events = feed(
        codec,
        {"event": "connected"},
        start(),
        media(b"\x01\x00" * 800),
        {
            "event": "dtmf",
            "sequence_number": "7",
            "stream_sid": SID,
            "dtmf": {"digit": "5", "duration": "100"},
        },
        {"event": "mark", "sequence_number": "15", "stream_sid": SID, "mark": {"name": "s0"}},
        {
            "event": "stop",
            "sequence_number": "16",
            "stream_sid": SID,
            "stop": {"call_sid": CALL, "account_sid": "AC", "reason": "callended"},
        },
    )
    assert events == [
        CallStarted(
            CALL,
            ids=(SID,),
            params={"key1": "value1"},
            from_="+919876543210",
            to="+918047491899",
            encoding="pcm16",
            sample_rate=8000,
            info={"stream_sid": SID, "account_sid": "ACxxxxxxxxxxxxxxxxxxxxxxxx"},
        ),
        CallerAudio(b"\x01\x00" * 800, "pcm16", 8000),
        Dtmf("5"),
        MarkPlayed("s0"),
        HungUp("stop"),
    ]
    assert codec.fmt == MediaFormat("pcm16", 8000, 20)


@pytest.mark.parametrize("rate", ["8000", "16000", "24000"])
def test_frames_are_gathered_into_chunks_exotel_takes(rate: str) -> None:
    codec = ExotelCodec()
    feed(codec, start(rate))
    assert codec.fmt is not None
    frame = codec.fmt.frame_bytes
    out: list = []
    for i in range(37):  # an odd number of 20 ms frames
        out += codec.send(SendAudio((bytes([i + 1]) * frame,)))
    out += codec.send(SendMark("s0"))
    sent = chunks(out)
    assert all(len(c) % 320 == 0 and MIN_CHUNK <= len(c) <= 100_000 for c in sent)
    audio = b"".join(sent)
    assert audio[: 37 * frame] == b"".join(bytes([i + 1]) * frame for i in range(37))
    assert set(audio[37 * frame :]) <= {0}  # the tail's padding is silence
    assert json.loads(out[-1]) == {"event": "mark", "stream_sid": SID, "mark": {"name": "s0"}}


def test_a_long_burst_is_split_under_the_maximum() -> None:
    codec = ExotelCodec()
    feed(codec, start())
    frames = tuple(b"\x01\x02" * 160 for _ in range(400))  # 8 s of audio due at once
    sent = chunks(codec.send(SendAudio(frames)))
    assert all(len(c) % 320 == 0 and MIN_CHUNK <= len(c) <= 100_000 for c in sent)
    assert sum(map(len, sent)) == 400 * 320


def test_clear_drops_what_is_gathered_and_says_so() -> None:
    codec = ExotelCodec()
    feed(codec, start())
    assert codec.send(SendAudio((b"\x05" * 320,))) == []  # under the minimum: held
    (clear,) = codec.send(ClearAudio())
    assert json.loads(clear) == {"event": "clear", "stream_sid": SID}
    assert codec.send(SendMark("after")) == [
        json.dumps(
            {"event": "mark", "stream_sid": SID, "mark": {"name": "after"}}, separators=(",", ":")
        )
    ]
    codec.send(SendAudio((b"\x05" * 320,)))
    assert codec.send(EndCall()) == []


def test_an_application_output_names_its_stream() -> None:
    codec = ExotelCodec.for_output(MediaFormat("pcm16", 8000, 20), "MZapp")
    (message,) = codec.send(SendAudio(tuple(bytes(320) for _ in range(10))))
    assert json.loads(message)["stream_sid"] == "MZapp"
    with pytest.raises(ValueError, match="exotel carries pcm16"):
        ExotelCodec.for_output(MediaFormat("mulaw", 8000, 20), "MZapp")


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("nope", "malformed"),
        ({"event": "transcript"}, "unknown_event"),
        ({**media(b""), "media": {"payload": "@@"}}, "bad_payload"),
        (media(b"\x00" * 3), "bad_payload"),
        ({"event": "dtmf", "stream_sid": SID, "dtmf": {"digit": "10"}}, "malformed"),
        ({"event": "mark", "stream_sid": "MZother", "mark": {"name": "m"}}, "wrong_stream_sid"),
        (start(), "out_of_order"),
    ],
)
def test_bad_messages_are_typed_errors_and_the_stream_goes_on(message: object, code: str) -> None:
    codec = ExotelCodec()
    feed(codec, start())
    with pytest.raises(CarrierProtocolError) as info:
        codec.receive_text(message if isinstance(message, str) else json.dumps(message))
    assert info.value.code == code and not info.value.fatal
    assert feed(codec, media(b"\x00\x00" * 800))


def test_other_rates_and_early_media_are_refused() -> None:
    with pytest.raises(CarrierProtocolError) as info:
        feed(ExotelCodec(), start("44100"))
    assert info.value.code == "unsupported_codec" and info.value.fatal
    with pytest.raises(CarrierProtocolError) as info:
        feed(ExotelCodec(), media(b"\x00\x00"))
    assert info.value.code == "out_of_order"
