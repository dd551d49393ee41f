"""Dialect connections are sessions of their key's tenant; dialect settings reach the core."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets.sync.client as ws_sync

from gateway.config import Settings
from tests.e2e.server import Running, serve
from tts_core import SynthesisRequest

from .support import KEY, OTHER_KEY


@pytest.fixture(scope="module")
def one_each(piper_engine) -> Iterator[Running]:
    settings = Settings(audiosocket_port=0, api_keys=f"{KEY},{OTHER_KEY}", tenant_max_sessions=1)
    with serve(settings, piper_engine, cache_entries=64) as running:
        yield running


def test_a_dialect_socket_holds_its_tenants_place_across_doors(one_each) -> None:
    speech = {"model": "tts-1", "voice": "alloy", "input": "Hello there.", "response_format": "pcm"}
    with ws_sync.connect(f"{one_each.ws}/deepgram/v1/speak",
                         additional_headers={"Authorization": f"Token {KEY}"}) as ws:  # fmt: skip
        assert json.loads(ws.recv())["type"] == "Metadata"
        # The same key is at its limit on every door; another key is not affected.
        busy = httpx.post(f"{one_each.http}/v1/audio/speech", json=speech,
                          headers={"authorization": f"Bearer {KEY}"})  # fmt: skip
        assert busy.status_code == 429 and busy.json()["error"]["code"] == "tenant_over_capacity"
        other = httpx.post(f"{one_each.http}/v1/audio/speech", json=speech,
                           headers={"authorization": f"Bearer {OTHER_KEY}"})  # fmt: skip
        assert other.status_code == 200 and other.content
    # The place is given back when the socket closes.
    deadline = time.monotonic() + 5
    while one_each.gateway.sessions and time.monotonic() < deadline:
        time.sleep(0.02)
    freed = httpx.post(f"{one_each.http}/v1/audio/speech", json=speech,
                       headers={"authorization": f"Bearer {KEY}"})  # fmt: skip
    assert freed.status_code == 200


def test_normalization_off_reaches_the_core(one_each) -> None:
    text = "It costs $5 today."
    url = (f"{one_each.ws}/elevenlabs/v1/text-to-speech/any/stream-input"
           "?output_format=pcm_16000&apply_text_normalization=off")  # fmt: skip
    with ws_sync.connect(url, additional_headers={"xi-api-key": KEY}) as ws:
        ws.send(json.dumps({"text": " "}))
        ws.send(json.dumps({"text": text + " "}))
        ws.send(json.dumps({"text": ""}))
        while json.loads(ws.recv()).get("isFinal") is not True:
            pass
    core = one_each.gateway.core
    raw = SynthesisRequest(text, "en_US-joe-medium", "en-us", normalize="off", locale="en-US")
    spoken = SynthesisRequest(text, "en_US-joe-medium", "en-us", locale="en-US")
    assert core.cache.get(core.cache_key(raw)) is not None
    assert core.cache.get(core.cache_key(spoken)) is None
