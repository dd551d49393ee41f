"""OpenAI `POST /v1/audio/speech` through the real `openai` SDK, against the engine's own audio."""

from __future__ import annotations

import base64
import json
import struct
import time

import httpx
import numpy as np
import openai
import pytest

from telephony.media import MediaFormat
from telephony.stream_format import StreamFormat

from .support import KEY, correlation, decode_any, expected_bytes

TEXT = "Dr. Smith called at 3 p.m. to confirm. Thank you for calling!"
SENTENCES = ["Dr. Smith called at 3 p.m. to confirm.", "Thank you for calling!"]
PCM24 = StreamFormat("pcm16", 24000, 20)


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.http}/v1", api_key=KEY, max_retries=0)


def stream_bytes(client: openai.OpenAI, **kwargs) -> tuple[bytes, str, list[int]]:
    params = {"model": "tts-1", "voice": "alloy", "input": TEXT} | kwargs
    with client.audio.speech.with_streaming_response.create(**params) as response:
        chunks = [c for c in response.iter_bytes(4096)]
        return b"".join(chunks), response.headers["content-type"], [len(c) for c in chunks]


def test_streaming_pcm_is_the_engines_audio_at_24_khz_byte_for_byte(client, server) -> None:
    # pipecat's OpenAITTSService reads exactly this: pcm, 16-bit mono 24 kHz, no header.
    data, kind, _ = stream_bytes(client, response_format="pcm")
    assert kind == "audio/pcm"
    assert data == expected_bytes(server, SENTENCES, PCM24)


def test_wav_is_a_streaming_header_then_the_same_samples(client, server) -> None:
    data, kind, _ = stream_bytes(client, response_format="wav")
    assert kind == "audio/wav"
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVE" + b"fmt "
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[20:36])
    assert (tag, channels, rate, bits) == (1, 1, 24000, 16)
    assert data[36:40] == b"data"
    assert data[44:] == expected_bytes(server, SENTENCES, PCM24)


def test_sse_deltas_carry_the_audio_then_done_with_usage(client, server) -> None:
    params = {"model": "gpt-4o-mini-tts", "voice": "alloy", "input": TEXT}
    with client.audio.speech.with_streaming_response.create(
        **params, response_format="pcm", stream_format="sse"
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    events = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert events[-1]["type"] == "speech.audio.done" and len(events) == len(deltas) + 1
    audio = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert audio == expected_bytes(server, SENTENCES, PCM24)
    usage = events[-1]["usage"]
    assert usage["input_tokens"] == len(TEXT) and usage["total_tokens"] > usage["input_tokens"]


def test_flac_is_lossless(client, server) -> None:
    data, kind, _ = stream_bytes(client, response_format="flac")
    assert kind == "audio/flac" and data[:4] == b"fLaC"
    pcm, rate = decode_any(data)
    assert rate == 24000
    assert pcm.tobytes() == expected_bytes(server, SENTENCES, PCM24)


@pytest.mark.parametrize(
    ("fmt", "kind", "magic"),
    [("mp3", "audio/mpeg", None), ("opus", "audio/ogg", b"OggS"), ("aac", "audio/aac", None)],
)
def test_lossy_formats_decode_to_the_same_speech(client, server, fmt, kind, magic) -> None:
    data, got_kind, _ = stream_bytes(client, response_format=fmt)
    assert got_kind == kind
    if magic:
        assert data.startswith(magic)
    pcm, _ = decode_any(data, rate=24000)
    reference = np.frombuffer(expected_bytes(server, SENTENCES, PCM24), "<i2")
    assert abs(len(pcm) - len(reference)) < 0.1 * len(reference)  # codec padding only
    assert correlation(pcm, reference) > 0.8


@pytest.mark.parametrize(("fmt", "encoding"), [("ulaw", "mulaw"), ("alaw", "alaw")])
def test_telephony_formats_are_exact_g711_at_8_khz(client, server, fmt, encoding) -> None:
    data, _, _ = stream_bytes(client, response_format=fmt)
    assert data == expected_bytes(server, SENTENCES, MediaFormat(encoding, 8000, 20))


def test_the_openai_prefix_and_an_unknown_voice_name_work_unchanged(server) -> None:
    # An unmodified client: `alloy` is no voxgate voice, so the default one speaks.
    client = openai.OpenAI(base_url=f"{server.http}/openai/v1", api_key=KEY, max_retries=0)
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="shimmer", input=TEXT, response_format="pcm"
    ) as response:
        assert response.headers["x-voxgate-voice"] == "en_US-joe-medium"
        assert response.read() == expected_bytes(server, SENTENCES, PCM24)


def test_models_lists_what_model_may_be(client) -> None:
    ids = [m.id for m in client.models.list()]
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"} <= set(ids)


def test_first_bytes_leave_before_the_last_sentence_has_rendered(client, server) -> None:
    # Cause, not clock: when the first chunk arrives, the last sentence is not yet in the
    # core's cache, so the answer cannot have waited for the whole input.
    sentences = [f"This is sentence number {n} and it is long enough to take some time." for n in
                 ("one", "two", "three", "four", "five", "six")]  # fmt: skip
    core = server.gateway.core
    from tts_core import SynthesisRequest

    last = SynthesisRequest(sentences[-1], "en_US-joe-medium", "en-us", locale="en-US")
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=" ".join(sentences), response_format="pcm"
    ) as response:
        chunks = response.iter_bytes(1024)
        first = next(chunks)
        rendered_at_first_byte = core.cache.get(core.cache_key(last)) is not None
        rest = b"".join(chunks)
    assert first and not rendered_at_first_byte
    assert first + rest == expected_bytes(server, sentences, PCM24)


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({"model": "nope", "input": "Hi.", "voice": "alloy"}, 400, "model", "model_not_found"),
        ({"model": "tts-1", "input": "x" * 4097, "voice": "alloy"}, 400, "input",
         "string_above_max_length"),
        ({"model": "tts-1", "input": "", "voice": "alloy"}, 400, "input", None),
        ({"model": "tts-1", "input": "Hi.", "voice": "alloy", "response_format": "ogg"}, 400,
         "response_format", None),
        ({"model": "tts-1", "input": "Hi.", "voice": "alloy", "speed": 9}, 400, "speed", None),
        ({"model": "tts-1", "input": "Hi.", "voice": "alloy", "stream_format": "x"}, 400,
         "stream_format", None),
        ({"model": "tts-1", "input": "Hi.", "voice": 7}, 400, "voice", None),
    ],
)  # fmt: skip
def test_bad_requests_get_openai_errors_the_sdk_raises(client, body, status, param, code) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.post("/audio/speech", body=body, cast_to=httpx.Response)
    err = caught.value
    assert err.status_code == status
    assert err.body["param"] == param and err.body["type"] == "invalid_request_error"
    assert err.body["message"]
    if code:
        assert err.body["code"] == code


def test_malformed_json_and_a_wrong_key_are_refused_in_openai_shape(server) -> None:
    bad = httpx.post(
        f"{server.http}/v1/audio/speech", content=b"{nope",
        headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
    )  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    wrong = openai.OpenAI(base_url=f"{server.http}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.audio.speech.create(model="tts-1", voice="alloy", input="Hi.")
    assert caught.value.body["code"] == "invalid_api_key"
    assert "wrong" not in json.dumps(caught.value.body)


def test_a_reader_that_leaves_early_frees_its_session(client, server) -> None:
    gw = server.gateway
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=" ".join([TEXT] * 20), response_format="pcm"
    ) as response:
        next(response.iter_bytes(1024))
        assert len(gw.sessions) == 1  # the request is a session of its tenant meanwhile
    deadline = time.monotonic() + 10
    while gw.sessions and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not gw.sessions
