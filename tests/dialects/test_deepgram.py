"""Deepgram's Aura speak WebSocket through the real `deepgram-sdk` client."""

from __future__ import annotations

import json

import pytest
import websockets.sync.client as ws_sync
from deepgram import DeepgramClient
from deepgram.core.api_error import ApiError
from deepgram.environment import DeepgramClientEnvironment
from deepgram.speak.v1.types import SpeakV1Clear, SpeakV1Close, SpeakV1Flush, SpeakV1Text
from websockets import InvalidStatus

from telephony.media import MediaFormat
from telephony.stream_format import StreamFormat

from .support import KEY, expected_bytes

SENTENCES = ["Hello from the gateway.", "Thank you for calling!"]


def client(server, key: str = KEY) -> DeepgramClient:
    env = DeepgramClientEnvironment(
        base=server.http, production=f"{server.ws}/deepgram", agent=server.ws,
        agent_rest=server.http,
    )  # fmt: skip
    return DeepgramClient(api_key=key, environment=env)


def until(conn, kind: str) -> tuple[bytes, list]:
    """Audio and messages received up to and including the first message of `kind`."""
    audio, messages = b"", []
    while True:
        message = conn.recv()
        if isinstance(message, bytes):
            audio += message
            continue
        messages.append(message)
        if message.type == kind:
            return audio, messages


@pytest.mark.parametrize(
    ("query", "fmt"),
    [
        ({"encoding": "linear16", "sample_rate": 24000}, StreamFormat("pcm16", 24000, 20)),
        ({"encoding": "linear16", "sample_rate": 48000}, StreamFormat("pcm16", 48000, 20)),
        ({"encoding": "mulaw", "sample_rate": 8000}, MediaFormat("mulaw", 8000, 20)),
        ({"encoding": "alaw", "sample_rate": 8000}, MediaFormat("alaw", 8000, 20)),
    ],
)
def test_speak_flush_close_deliver_the_engines_audio(server, query, fmt) -> None:
    with client(server).speak.v1.connect(model="aura-2-thalia-en", **query) as conn:
        metadata = conn.recv()
        assert metadata.type == "Metadata" and metadata.model_name == "aura-2-thalia-en"
        conn.send_text(SpeakV1Text(text=" ".join(SENTENCES)))
        conn.send_flush(SpeakV1Flush(type="Flush"))
        audio, messages = until(conn, "Flushed")
        assert messages[-1].sequence_id == 0
        conn.send_text(SpeakV1Text(text="Goodbye now."))
        conn.send_flush(SpeakV1Flush(type="Flush"))
        more, messages = until(conn, "Flushed")
        assert messages[-1].sequence_id == 1
        conn.send_close(SpeakV1Close(type="Close"))
    assert audio == expected_bytes(server, SENTENCES, fmt)
    assert more == expected_bytes(server, ["Goodbye now."], fmt)


def test_clear_stops_the_audio_and_answers_cleared(server) -> None:
    long = " ".join(f"Sentence {n} of a long answer that the caller interrupts." for n in range(12))
    with client(server).speak.v1.connect(encoding="linear16", sample_rate=16000) as conn:
        conn.recv()  # Metadata
        conn.send_text(SpeakV1Text(text=long))
        conn.send_flush(SpeakV1Flush(type="Flush"))
        first = conn.recv()
        assert isinstance(first, bytes)
        conn.send_clear(SpeakV1Clear(type="Clear"))
        _, messages = until(conn, "Cleared")
        assert messages[-1].sequence_id == 1  # one flush was sent before the clear
        # Nothing of the cleared answer follows: the next audio is the next text's.
        conn.send_text(SpeakV1Text(text="Goodbye now."))
        conn.send_flush(SpeakV1Flush(type="Flush"))
        after, messages = until(conn, "Flushed")
        assert [m.type for m in messages] == ["Flushed"]
    assert after == expected_bytes(server, ["Goodbye now."], StreamFormat("pcm16", 16000, 20))


def test_messages_it_cannot_use_get_warnings_and_the_socket_stays_up(server) -> None:
    with client(server).speak.v1.connect() as conn:
        conn.recv()  # Metadata
        raw = conn._websocket
        warnings = []
        for bad in ("{nope", '{"type": "Bogus"}', '{"type": "Speak", "text": 5}'):
            raw.send(bad)
            warnings.append(conn.recv())
        raw.send(b"\x00\x01")
        warnings.append(conn.recv())
        assert [w.type for w in warnings] == ["Warning"] * 4
        assert [w.code for w in warnings] == [
            "INVALID_JSON", "UNKNOWN_MESSAGE_TYPE", "INVALID_MESSAGE", "BINARY_NOT_ALLOWED",
        ]  # fmt: skip
        assert all(w.description for w in warnings)
        conn.send_text(SpeakV1Text(text="Hello from the gateway."))
        conn.send_flush(SpeakV1Flush(type="Flush"))
        audio, _ = until(conn, "Flushed")
        assert audio


def test_a_wrong_key_is_refused_with_401(server) -> None:
    # This SDK release maps the legacy websockets error to ApiError; the sync client raises
    # websockets' InvalidStatus, which carries the same HTTP answer.
    with pytest.raises((ApiError, InvalidStatus)) as caught:
        with client(server, "wrong").speak.v1.connect():
            pass
    error = caught.value
    status = error.status_code if isinstance(error, ApiError) else error.response.status_code
    assert status == 401
    if isinstance(error, InvalidStatus):
        assert json.loads(error.response.body)["err_code"] == "INVALID_AUTH"


@pytest.mark.parametrize(
    "query",
    ["encoding=opus", "encoding=mulaw&sample_rate=16000", "sample_rate=12345", "speed=9",
     "container=wav"],
)  # fmt: skip
def test_bad_queries_are_refused_with_deepgrams_error_body(server, query) -> None:
    with pytest.raises(Exception) as caught:
        ws_sync.connect(f"{server.ws}/deepgram/v1/speak?{query}",
                        additional_headers={"Authorization": f"Token {KEY}"})  # fmt: skip
    response = caught.value.response
    assert response.status_code == 400
    body = json.loads(response.body)
    assert body["err_code"] == "INVALID_QUERY_PARAMETER" and body["err_msg"] and body["request_id"]


def test_the_browser_subprotocol_carries_the_key(server) -> None:
    with ws_sync.connect(f"{server.ws}/deepgram/v1/speak", subprotocols=["token", KEY]) as ws:
        assert ws.subprotocol == "token"
        assert json.loads(ws.recv())["type"] == "Metadata"
