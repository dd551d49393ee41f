"""A gateway whose speech comes from remote servers: frames, readiness and metrics."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from gateway.config import Settings
from telephony.media import MediaFormat, UtteranceEncoder
from tests.e2e.client import speak
from tests.e2e.server import serve
from tests.remote.fake_upstream import Behaviour, dead_url, fake_upstream, pcm_for
from tts_core.remote import RemoteEngine

SENTENCES = ["Thanks for calling.", "Your table is ready."]


def expected(text: str) -> list[bytes]:
    """µ-law frames of the upstream's own audio, resampled once from its 24 kHz."""
    encoder = UtteranceEncoder(24000, MediaFormat())
    return encoder.feed(pcm_for(text)) + encoder.finish()


async def test_sessions_get_the_upstreams_audio_frame_exact() -> None:
    with fake_upstream() as up:
        engine = RemoteEngine([up.url], voices="vivian")
        with serve(Settings(audiosocket_port=0), engine) as server:
            got = await speak(server.ws, [" ".join(SENTENCES)])
            assert not got.of("error")
            assert got.frames == [f for s in SENTENCES for f in expected(s)]
            async with httpx.AsyncClient() as client:
                ready = (await client.get(f"{server.http}/readyz")).json()
                metrics = (await client.get(f"{server.http}/metrics")).text
    assert ready["upstreams"] == 1 and ready["upstreams_up"] == 1
    label = f'upstream="{up.url}"'
    assert f"voxgate_remote_requests_total{{{label}}} 2.0" in metrics
    assert f"voxgate_remote_up{{{label}}} 1.0" in metrics
    assert "voxgate_remote_first_byte_seconds_bucket" in metrics


async def test_a_failed_sentence_is_an_engine_error_and_the_session_goes_on() -> None:
    with fake_upstream(Behaviour(mode="die")) as up:
        engine = RemoteEngine([up.url], voices="vivian")
        engine.pool.backoff_s = 0.05
        with serve(Settings(audiosocket_port=0), engine) as server:
            async with websockets.connect(f"{server.ws}/v1/speak") as ws:
                assert json.loads(await ws.recv())["type"] == "ready"
                await ws.send(json.dumps({"type": "text", "text": "Thanks for calling. "}))
                await ws.send(json.dumps({"type": "flush"}))
                codes = []
                while True:
                    msg = await asyncio.wait_for(ws.recv(), 10)
                    if isinstance(msg, str):
                        event = json.loads(msg)
                        codes.append(event.get("code") or event["type"])
                        if event["type"] == "flushed":
                            break
                assert "engine_error" in codes
                up.behaviour.mode = "ok"
                await asyncio.sleep(0.1)
                await ws.send(json.dumps({"type": "text", "text": "Your table is ready."}))
                await ws.send(json.dumps({"type": "close"}))
                frames = []
                async for msg in ws:
                    if isinstance(msg, bytes):
                        frames.append(msg)
                assert frames[-len(expected("Your table is ready.")) :] == expected(
                    "Your table is ready."
                )


async def test_readiness_says_no_when_every_upstream_is_down() -> None:
    engine = RemoteEngine([dead_url()], voices="vivian")
    with serve(Settings(audiosocket_port=0), engine) as server:
        got = await speak(server.ws, ["Hello there."])
        assert got.of("error")[0]["code"] == "engine_error"
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{server.http}/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "engine": "remote", "loaded": True,
                               "upstreams": 1, "upstreams_up": 0}  # fmt: skip
