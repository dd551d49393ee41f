"""A gateway whose engine is another voxgate: the two-tier deployment, for real.

The upstream is a real `python -m gateway serve` process (Piper) speaking its
OpenAI dialect; the front gateway runs the remote engine against it. What a
caller of the front hears must be, sample for sample, what the upstream renders
for the same text, resampled once from its 24 kHz `pcm`. Piper samples its own
noise, so "what the upstream renders" is read back afterwards from the
upstream's audio cache: the same request asked again directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from bench.servers import Server, start_gateway
from gateway.config import Settings
from telephony.media import MediaFormat, UtteranceEncoder
from tests.e2e.client import speak
from tests.e2e.server import serve
from tts_core.core import SpeechCore
from tts_core.engine import SynthesisRequest
from tts_core.remote import RemoteEngine

VOICE = "en_US-joe-medium"
SENTENCE = "Your table for four is ready."
OTHER = "Thank you for waiting, a colleague will be with you."


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {"engine": "piper", "cache_entries": 64}
    server = start_gateway("upstream", settings, Path(tmp_path_factory.mktemp("up")))
    try:
        yield server
    finally:
        server.stop()


def direct_pcm(server: Server, text: str) -> np.ndarray:
    """The upstream's own answer for `text`, asked directly (no remote engine), with
    the fields the remote engine sends, so it is served from the upstream's cache."""
    body = {"model": "tts-1", "input": text, "voice": VOICE, "response_format": "pcm",
            "speed": 1.0, "stream": True, "language": "en"}  # fmt: skip
    response = httpx.post(f"{server.http}/v1/audio/speech", json=body, timeout=30)
    response.raise_for_status()
    return np.frombuffer(response.content, dtype="<i2").astype(np.int16)


async def test_the_remote_engine_streams_the_upstreams_own_audio(upstream: Server) -> None:
    engine = RemoteEngine([f"{upstream.http}/v1"], voices=VOICE)
    core = SpeechCore(engine, idle_unload_s=0)
    request = SynthesisRequest(SENTENCE, VOICE, "en")
    chunks = [c async for c in core.synthesize(request)]
    await core.aclose()
    expected = await asyncio.to_thread(direct_pcm, upstream, SENTENCE)
    assert expected.size > 24000 // 2  # over half a second of speech
    assert np.array_equal(np.concatenate(chunks), expected)


async def test_a_front_gateway_serves_callers_from_the_upstream(upstream: Server) -> None:
    engine = RemoteEngine([f"{upstream.http}/v1"], voices=VOICE)
    with serve(Settings(audiosocket_port=0), engine) as front:
        got = await speak(front.ws, [OTHER], language="en")
        async with httpx.AsyncClient() as client:
            ready = (await client.get(f"{front.http}/readyz")).json()
    assert not got.of("error") and ready["upstreams_up"] == 1
    pcm = await asyncio.to_thread(direct_pcm, upstream, OTHER)
    encoder = UtteranceEncoder(24000, MediaFormat())
    assert got.frames == encoder.feed(pcm) + encoder.finish()
