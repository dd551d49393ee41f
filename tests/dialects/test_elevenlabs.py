"""ElevenLabs stream-input through the real `elevenlabs` SDK; multi-stream-input through a
client written from the vendor's AsyncAPI document (the SDK has none for it)."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest
import websockets
from elevenlabs.client import ElevenLabs

from telephony.media import MediaFormat
from telephony.stream_format import StreamFormat
from tts_core.normalize import normalize

from .support import KEY, correlation, decode_any, expected_bytes

SENTENCES = ["Hello from the gateway.", "Your balance is $5 today."]
PIECES = ["Hello from ", "the gateway. ", "Your balance ", "is $5 today."]


def sdk(server) -> ElevenLabs:
    client = ElevenLabs(api_key=KEY, base_url=f"{server.http}/elevenlabs")
    # The SDK rewrites its base URL's scheme to wss (TLS) for its socket; the test server
    # speaks plain ws, so its socket is pointed at the same path over ws.
    client.text_to_speech._ws_base_url = f"{server.ws}/elevenlabs"
    return client


def test_sdk_stream_input_pcm_is_the_engines_audio(server) -> None:
    audio = b"".join(
        sdk(server).text_to_speech.convert_realtime(
            "21m00Tcm4TlvDq8ikWAM", text=iter(PIECES), output_format="pcm_22050"
        )
    )
    # Piper renders at 22050 Hz: no resampling, so every sample is the engine's.
    assert audio == expected_bytes(server, SENTENCES, StreamFormat("pcm16", 22050, 20))


def test_sdk_default_mp3_decodes_to_the_same_speech(server) -> None:
    audio = b"".join(sdk(server).text_to_speech.convert_realtime("any", text=iter(PIECES)))
    pcm, _ = decode_any(audio, rate=44100)
    reference = np.frombuffer(
        expected_bytes(server, SENTENCES, StreamFormat("pcm16", 44100, 20)), "<i2"
    )
    assert abs(len(pcm) - len(reference)) < 0.1 * len(reference)
    assert correlation(pcm, reference) > 0.8


def url(server, mode: str = "stream-input", **query: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{server.ws}/elevenlabs/v1/text-to-speech/voice123/{mode}?{q}"


async def collect(ws, until_final: int = 1) -> list[dict]:
    got, finals = [], 0
    while finals < until_final:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
        got.append(msg)
        finals += msg.get("isFinal") is True
    return got


async def test_alignment_covers_each_sentence_over_its_audio(server) -> None:
    headers = {"xi-api-key": KEY}
    async with websockets.connect(url(server, output_format="ulaw_8000"),
                                  additional_headers=headers) as ws:  # fmt: skip
        await ws.send(json.dumps({"text": " ", "voice_settings": {"speed": 1.0}}))
        for piece in PIECES:
            await ws.send(json.dumps({"text": piece, "try_trigger_generation": True}))
        await ws.send(json.dumps({"text": ""}))
        got = await collect(ws)
        await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.close_code == 1000 and got[-1] == {"isFinal": True}
    audio = b"".join(base64.b64decode(m["audio"]) for m in got if m.get("audio"))
    assert audio == expected_bytes(server, SENTENCES, MediaFormat("mulaw", 8000, 20))
    aligned = [m for m in got if m.get("alignment")]
    assert ["".join(m["alignment"]["chars"]) for m in aligned] == SENTENCES
    for message, sentence in zip(aligned, SENTENCES, strict=True):
        # Piper renders a sentence at once: its audio and its alignment travel together.
        ms = len(base64.b64decode(message["audio"])) / 8
        a, n = message["alignment"], message["normalizedAlignment"]
        assert "".join(n["chars"]) == normalize(sentence, "en-us", "en-US")
        for timing in (a, n):
            starts, durations = timing["charStartTimesMs"], timing["charsDurationsMs"]
            assert starts == sorted(starts) and starts[0] == 0
            assert abs(starts[-1] + durations[-1] - ms) <= 1
            assert timing["charDurationsMs"] == durations
    # "$5" is spoken as "five dollars": its two characters get that much of the time.
    a = aligned[1]["alignment"]
    dollar = a["chars"].index("$")
    assert a["charsDurationsMs"][dollar] > 3 * a["charsDurationsMs"][0]


async def test_multi_stream_contexts_flush_close_and_keep_alive(server) -> None:
    async with websockets.connect(url(server, "multi-stream-input", output_format="pcm_16000"),
                                  additional_headers={"xi-api-key": KEY}) as ws:  # fmt: skip
        await ws.send(json.dumps({"text": " ", "context_id": "a"}))
        await ws.send(json.dumps({"text": "", "context_id": "a"}))  # keep-alive, not the end
        await ws.send(json.dumps({"text": "Hello from the gateway. ", "context_id": "a",
                                  "flush": True}))  # fmt: skip
        await ws.send(json.dumps({"text": " ", "context_id": "b"}))
        await ws.send(json.dumps({"text": "Thank you for calling! ", "context_id": "b",
                                  "flush": True}))  # fmt: skip
        got = []
        while sum(bool(m.get("alignment")) for m in got) < 2:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        await ws.send(json.dumps({"context_id": "b", "close_context": True}))
        closed = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(json.dumps({"text": "Goodbye now. ", "context_id": "a"}))
        await ws.send(json.dumps({"close_socket": True}))
        tail = await collect(ws)
        await asyncio.wait_for(ws.wait_closed(), 10)
    assert closed == {"isFinal": True, "contextId": "b"}
    assert all(m["contextId"] in ("a", "b") for m in got + tail)
    by_context = {c: b"".join(base64.b64decode(m["audio"]) for m in got + tail
                              if m.get("audio") and m["contextId"] == c) for c in "ab"}  # fmt: skip
    pcm16 = StreamFormat("pcm16", 16000, 20)
    assert by_context["a"] == expected_bytes(
        server, ["Hello from the gateway.", "Goodbye now."], pcm16
    )
    assert by_context["b"] == expected_bytes(server, ["Thank you for calling!"], pcm16)
    assert tail[-1] == {"isFinal": True, "contextId": "a"} and ws.close_code == 1000


async def test_context_limit_and_key_in_first_message(server) -> None:
    from gateway.dialects.elevenlabs import MAX_CONTEXTS

    async with websockets.connect(url(server, "multi-stream-input",
                                      output_format="pcm_16000")) as ws:  # fmt: skip
        for n in range(MAX_CONTEXTS + 1):
            await ws.send(json.dumps({"text": " ", "context_id": f"c{n}", "xi_api_key": KEY}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await asyncio.wait_for(ws.wait_closed(), 10)
    assert error["error"] == "max_contexts" and str(MAX_CONTEXTS) in error["message"]
    assert ws.close_code == 1008 and ws.close_reason


@pytest.mark.parametrize(
    ("first", "error"),
    [
        ('{"text": " ", "xi_api_key": "wrong"}', "invalid_api_key"),
        ("{not json", "invalid_message"),
        ('{"text": 5, "xi_api_key": "' + KEY + '"}', "invalid_message"),
    ],
)
async def test_bad_messages_get_an_error_and_a_close_with_reason(server, first, error) -> None:
    async with websockets.connect(url(server, output_format="pcm_16000")) as ws:
        await ws.send(first)
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await asyncio.wait_for(ws.wait_closed(), 10)
    assert reply["error"] == error and reply["message"] and "wrong" not in reply["message"]
    assert ws.close_code == 1008 and ws.close_reason == reply["message"]


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        ({"output_format": "pcm_12345"}, {"xi-api-key": KEY}, 400),
        ({"inactivity_timeout": "999"}, {"xi-api-key": KEY}, 400),
        ({}, {"xi-api-key": "wrong"}, 401),
    ],
)
async def test_refused_upgrades_answer_with_a_status(server, query, headers, status) -> None:
    with pytest.raises(websockets.InvalidStatus) as caught:
        async with websockets.connect(url(server, **query), additional_headers=headers):
            pass
    assert caught.value.response.status_code == status
    assert json.loads(caught.value.response.body)["detail"]["message"]
