"""Dialect connections are sessions of their key's tenant; dialect settings reach the core."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets
import websockets.sync.client as ws_sync

from gateway.config import Settings
from tests.carriers.support import wait_until as until
from tests.e2e.server import Running, serve
from tests.fakes import HeldSimEngine
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


async def warning_after(ws, message: dict) -> dict | None:
    """Send `message`; the Warning it caused, or None when none came within a short wait."""
    await ws.send(json.dumps(message))
    try:
        while True:
            reply = await asyncio.wait_for(ws.recv(), 0.5)
            if isinstance(reply, str) and json.loads(reply).get("type") == "Warning":
                return json.loads(reply)
    except TimeoutError:
        return None


async def test_two_dialect_sockets_of_a_tenant_cannot_both_count_on_its_last_place() -> None:
    # The dialects take text through the same intake as /v1/speak: each socket's pending
    # tail holds a place of the tenant's limit from the moment its text arrives. Before,
    # a dialect stream held no place for its tail and forced a flush past the limit, so
    # this tenant of 3 ended with 4 sentences queued.
    engine = HeldSimEngine()
    settings = Settings(engine="sim", audiosocket_port=0, api_keys=KEY,
                        tenant_max_queued_sentences=3, sentence_wait_s=60)  # fmt: skip
    with serve(settings, engine) as srv:
        gw = srv.gateway
        streams = lambda: [st for adm in gw.sessions for st in adm.streams]  # noqa: E731
        door = f"{srv.ws}/deepgram/v1/speak?encoding=linear16&sample_rate=16000"
        auth = {"Authorization": f"Token {KEY}"}
        a = await websockets.connect(door, additional_headers=auth)
        b = await websockets.connect(door, additional_headers=auth)
        try:
            for ws in (a, b):
                assert json.loads(await ws.recv())["type"] == "Metadata"
            assert await warning_after(a, {"type": "Speak", "text": "Alpha zero. Alpha"}) is None
            await until(engine.entered.is_set)  # "Alpha zero." holds the engine
            assert await warning_after(b, {"type": "Speak", "text": "Bravo zero. Bravo"}) is None
            await until(lambda: gw.core.scheduler.waiting == 1)  # "Bravo zero." waits for it
            # Two tails hold two places; one is left, and this message needs two.
            refused = await warning_after(a, {"type": "Speak", "text": " one. Alpha two. Alpha"})
            assert refused is not None and refused["code"] == "QUEUE_FULL"
            assert await warning_after(b, {"type": "Speak", "text": " one"}) is None
            for ws in (a, b):
                assert await warning_after(ws, {"type": "Flush"}) is None
                assert sum(st.pipeline.queued for st in streams()) <= 3
            items = [i for st in streams() for i in st.pipeline._items]
            waiting = sorted(i.text for i in items if hasattr(i, "text"))  # not the flushes
            assert waiting == ["Alpha", "Bravo one"]  # both tails queued, nothing lost
        finally:
            engine.gate.set()
            await a.close()
            await b.close()
