"""The clone flow end to end: register a voice over HTTP, speak it through every door."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import websockets.sync.client as ws_sync

from gateway.config import Settings
from telephony.media import UtteranceEncoder
from telephony.stream_format import StreamFormat
from tests.e2e.server import Running, serve
from tests.qwen.clone_support import encoded, voice_like
from tts_core import SynthesisRequest
from tts_core.qwen import QwenEngine

KEY = "clone-key"
AUTH = {"authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server(tiny_qwen_base_dir: Path, tmp_path_factory) -> Iterator[Running]:
    engine = QwenEngine(str(tiny_qwen_base_dir), device="cpu", slots=4, seed=5, max_frames=10,
                        voices_dir=str(tmp_path_factory.mktemp("voices")))  # fmt: skip
    engine.load()
    with serve(Settings(engine="qwen", audiosocket_port=0, api_keys=KEY), engine,
               cache_entries=64) as running:  # fmt: skip
        yield running
    engine.unload()


def register(server: Running, **kwargs) -> httpx.Response:
    return httpx.post(f"{server.http}/v1/voices", headers=AUTH, timeout=60, **kwargs)


def test_register_list_speak_and_delete(server) -> None:
    wav = (voice_like(pitch=150.0) * 32767).astype(np.int16)  # exact in WAV and FLAC alike
    created = register(server, files={"audio": ("me.wav", encoded(wav, 24000), "audio/wav")},
                       data={"transcript": "Hello, this is my voice.", "name": "me"})  # fmt: skip
    assert created.status_code == 201, created.text
    voice = created.json()
    assert voice["id"].startswith("clone-") and voice["mode"] == "icl" and voice["name"] == "me"
    # The same samples in another container are the same reference: no new voice.
    flac = base64.b64encode(encoded(wav, 24000, "FLAC")).decode()
    again = register(server, json={"audio": flac, "transcript": "Hello, this is my voice."})
    assert again.status_code == 200 and again.json()["id"] == voice["id"]
    listed = httpx.get(f"{server.http}/v1/voices", headers=AUTH).json()
    assert voice["id"] in [v["name"] for v in listed["voices"]]

    client = openai.OpenAI(base_url=f"{server.http}/v1", api_key=KEY, max_retries=0)
    text = "Thank you for calling."
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice=voice["id"], input=text, response_format="pcm"
    ) as response:
        audio = response.read()
    core = server.gateway.core
    pcm = core.cache.get(core.cache_key(SynthesisRequest(text, voice["id"], "auto")))
    assert pcm is not None and len(pcm) > 0
    encoder = UtteranceEncoder(core.sample_rate, StreamFormat("pcm16", 24000, 20))
    assert audio == b"".join(encoder.feed(pcm) + encoder.finish())

    with ws_sync.connect(f"{server.ws}/deepgram/v1/speak?model={voice['id']}",
                         additional_headers={"Authorization": f"Token {KEY}"}) as ws:  # fmt: skip
        assert json.loads(ws.recv())["voice"] == voice["id"]

    gone = httpx.delete(f"{server.http}/v1/voices/{voice['id']}", headers=AUTH)
    assert gone.status_code == 204
    assert httpx.delete(f"{server.http}/v1/voices/{voice['id']}", headers=AUTH).status_code == 404
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tts-1", voice=voice["id"], input=text)
    assert "register one with POST /v1/voices" in caught.value.body["message"]


def test_a_customvoice_name_is_refused_with_the_reason(server) -> None:
    with ws_sync.connect(f"{server.ws}/v1/speak?voice=ryan&token={KEY}") as ws:
        event = json.loads(ws.recv())
    assert event["code"] == "invalid_setting" and "Base checkpoint" in event["message"]


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (encoded(voice_like(0.4), 24000), "at least 1 s"),
        (encoded(voice_like(40.0, 16000), 16000), "longer than 30 s"),
        (encoded(np.zeros(48000, np.float32), 24000), "silent"),
        (encoded(voice_like(3.0, 8000), 8000), "8000 Hz is too narrow"),
        (encoded(np.tile(voice_like(2.0)[:, None], (1, 4)), 24000), "4 channels"),
        (b"RIFF not really a wave file", "could not be decoded"),
        (b"", "empty"),
    ],
)
def test_bad_reference_audio_is_refused_clearly(server, audio: bytes, message: str) -> None:
    got = register(server, files={"audio": ("x.wav", audio, "audio/wav")})
    assert got.status_code == 400
    assert got.json()["error"] == "invalid_audio" and message in got.json()["message"]


@pytest.mark.parametrize(("fmt", "subtype"), [("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
def test_ogg_and_mp3_references_are_decoded(server, fmt: str, subtype: str) -> None:
    data = encoded(voice_like(2.5, 24000, pitch=120.0), 24000, fmt, subtype)
    got = register(server, files={"file": ("x", data, "application/octet-stream")})
    assert got.status_code == 201, got.text
    assert got.json()["mode"] == "x_vector" and 2.0 < got.json()["seconds"] < 3.0


def test_malformed_requests_and_a_missing_key(server) -> None:
    assert register(server, json={"audio": "%%%"}).json()["error"] == "invalid_field"
    malformed = httpx.post(f"{server.http}/v1/voices", content=b"{",
                           headers=AUTH | {"content-type": "application/json"})  # fmt: skip
    assert malformed.json()["error"] == "malformed_json"
    denied = httpx.post(f"{server.http}/v1/voices", json={"audio": ""})
    assert denied.status_code == 401


def test_a_one_shot_clone_through_the_openai_endpoint(server) -> None:
    """The seed's clone flow: reference audio in the speech request itself; the voice is
    registered once (by content) and reused by the next request with the same audio."""
    ref = base64.b64encode(encoded(voice_like(pitch=170.0), 24000)).decode()
    body = {"model": "tts-1", "input": "Hello there.", "response_format": "pcm",
            "ref_audio": ref, "ref_text": "Hello, this is my voice."}  # fmt: skip
    first = httpx.post(f"{server.http}/v1/audio/speech", json=body, headers=AUTH, timeout=60)
    second = httpx.post(f"{server.http}/v1/audio/speech", json=body, headers=AUTH, timeout=60)
    assert first.status_code == second.status_code == 200
    assert first.headers["x-voxgate-voice"] == second.headers["x-voxgate-voice"]
    assert first.headers["x-voxgate-voice"].startswith("clone-") and first.content
    bad = httpx.post(f"{server.http}/v1/audio/speech", headers=AUTH,
                     json=body | {"ref_audio": base64.b64encode(b"nope").decode()})  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "ref_audio"
