"""The remote engine against fake vLLM-Omni servers: streaming, pooling, failover.

Every test goes through the shared speech core, as a session does: the core
admits up to the engine's declared concurrency and each sentence streams from
whichever upstream the pool picks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from tests.remote.fake_upstream import Behaviour, dead_url, fake_upstream, pcm_for
from tts_core.core import SpeechCore
from tts_core.engine import EngineError, InvalidRequest, SynthesisRequest
from tts_core.remote import RemoteEngine

TEXT = "Your order shipped this morning and will arrive on Thursday."
# Words, not digits: the core normalizes text before the engine sees it.
NAMES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliett", "kilo", "lima"]  # fmt: skip


def engine(*urls: str, **kw: object) -> RemoteEngine:
    kw.setdefault("voices", "vivian,ryan")
    kw.setdefault("first_byte_timeout_s", 2.0)
    e = RemoteEngine(list(urls), **kw)  # type: ignore[arg-type]
    e.pool.backoff_s = 0.2  # quick probes in tests
    return e


async def core_of(e: RemoteEngine) -> SpeechCore:
    core = SpeechCore(e, idle_unload_s=0)
    await core.ensure_loaded()
    return core


async def speak(core: SpeechCore, text: str = TEXT, **kw: object) -> list[np.ndarray]:
    request = SynthesisRequest(text, kw.pop("voice", "vivian"), kw.pop("language", "en"))  # type: ignore[arg-type]
    return [c async for c in core.synthesize(request)]


async def test_audio_streams_from_the_upstream_as_it_renders() -> None:
    with fake_upstream(Behaviour(chunk_delay_s=0.05)) as up:
        e = engine(up.url, api_key="sk-test", model="qwen3-tts")
        core = await core_of(e)
        arrivals: list[float] = []
        chunks: list[np.ndarray] = []
        started = time.monotonic()
        async for chunk in core.synthesize(SynthesisRequest(TEXT, "vivian", "en")):
            arrivals.append(time.monotonic() - started)
            chunks.append(chunk)
        await core.aclose()
    audio = np.concatenate(chunks)
    assert np.array_equal(audio, pcm_for(TEXT))  # every sample, across odd-sized chunks
    assert len(chunks) > 5 and arrivals[0] < arrivals[-1] / 3  # streamed, not buffered
    body, headers = up.behaviour.requests[0], up.behaviour.headers[0]
    assert body == {
        "model": "qwen3-tts", "input": TEXT, "voice": "vivian", "response_format": "pcm",
        "speed": 1.0, "stream": True, "language": "en",
    }  # fmt: skip
    assert headers["authorization"] == "Bearer sk-test"
    assert e.sample_rate == 24000


async def test_requests_spread_over_upstreams_within_their_limits_on_kept_connections() -> None:
    with fake_upstream() as a, fake_upstream() as b:
        e = engine(a.url, b.url, concurrency=2)
        core = await core_of(e)
        assert core.concurrency == 4
        results = await asyncio.gather(*(speak(core, f"Sentence {NAMES[i]}.") for i in range(12)))
        for i, chunks in enumerate(results):
            assert np.array_equal(np.concatenate(chunks), pcm_for(f"Sentence {NAMES[i]}."))
        for _ in range(6):  # sequential: the pool keeps its connections open
            await speak(core, "Again.")
        await core.aclose()
    for up in (a, b):
        assert 0 < up.behaviour.peak <= 2
        assert len(up.behaviour.requests) >= 3
    assert len(a.behaviour.ports) + len(b.behaviour.ports) <= 4  # one per concurrent slot


async def test_a_dead_upstream_is_skipped_marked_down_and_probed_again() -> None:
    with fake_upstream() as live:
        e = engine(dead_url(), live.url, concurrency=4)
        core = await core_of(e)
        results = await asyncio.gather(*(speak(core, f"Call {NAMES[i]}.") for i in range(6)))
        assert all(np.array_equal(np.concatenate(r), pcm_for(f"Call {NAMES[i]}."))
                   for i, r in enumerate(results))  # fmt: skip
        dead = e.pool.upstreams[0]
        assert dead.errors >= 1 and not dead.up(time.monotonic())
        assert e.health() == {"upstreams": 2, "upstreams_up": 1}
        errors = dead.errors
        await asyncio.sleep(0.5)  # past its backoff: the next sentence may probe it
        await speak(core, "Probe.")
        await core.aclose()
    assert dead.errors >= errors  # probed (and failed again) or left alone while others had room
    assert len(live.behaviour.requests) >= 7


async def test_a_stalled_upstream_loses_the_sentence_to_another() -> None:
    with fake_upstream(Behaviour(mode="stall", stall_s=3.0)) as slow, fake_upstream() as fast:
        e = engine(slow.url, fast.url, first_byte_timeout_s=0.3)
        core = await core_of(e)
        started = time.monotonic()
        chunks = await asyncio.gather(*(speak(core, f"Hello {NAMES[i]}.") for i in range(3)))
        elapsed = time.monotonic() - started
        await core.aclose()
    assert all(np.array_equal(np.concatenate(c), pcm_for(f"Hello {NAMES[i]}."))
               for i, c in enumerate(chunks))  # fmt: skip
    assert elapsed < 2.0, "waited for the stalled upstream instead of failing over"
    assert e.pool.upstreams[0].errors >= 1


async def test_death_mid_sentence_costs_that_sentence_only() -> None:
    with fake_upstream(Behaviour(mode="die")) as up:
        e = engine(up.url)
        core = await core_of(e)
        got: list[np.ndarray] = []
        with pytest.raises(EngineError, match="mid-sentence"):
            async for chunk in core.synthesize(SynthesisRequest(TEXT, "vivian", "en")):
                got.append(chunk)
        assert got, "audio had started before the upstream died"
        up.behaviour.mode = "ok"
        await asyncio.sleep(0.3)  # its backoff
        assert np.array_equal(np.concatenate(await speak(core, "Next.")), pcm_for("Next."))
        assert core.scheduler.in_use == 0
        await core.aclose()


async def test_a_refusal_is_the_sentences_error_and_the_upstream_stays_up() -> None:
    with fake_upstream() as up:
        e = engine(up.url, voices="vivian,darth")
        core = await core_of(e)
        with pytest.raises(EngineError, match="Invalid voice"):
            await speak(core, voice="darth")
        assert e.pool.upstreams[0].up(time.monotonic())
        assert await speak(core)
        with pytest.raises(InvalidRequest):  # not a configured voice: refused before sending
            await speak(core, voice="nobody")
        await core.aclose()


async def test_all_upstreams_down_fails_fast() -> None:
    e = engine(dead_url(), dead_url())
    core = await core_of(e)
    started = time.monotonic()
    with pytest.raises(EngineError, match="no speech server"):
        await speak(core)
    assert time.monotonic() - started < 3
    assert e.health()["upstreams_up"] == 0
    await core.aclose()


async def test_a_barge_in_cancels_the_upstream_request() -> None:
    with fake_upstream(Behaviour(chunk_delay_s=0.1)) as up:
        e = engine(up.url)
        core = await core_of(e)
        stream: AsyncIterator[np.ndarray] = core.synthesize(SynthesisRequest(TEXT, "vivian", "en"))
        await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]
        for _ in range(100):
            if up.behaviour.in_flight == 0 and core.scheduler.in_use == 0:
                break
            await asyncio.sleep(0.02)
        assert up.behaviour.in_flight == 0 and core.scheduler.in_use == 0
        await core.aclose()


def test_the_synchronous_path_streams_too() -> None:
    with fake_upstream() as up:
        e = engine(up.url)
        e.load()
        audio = np.concatenate(list(e.synthesize(SynthesisRequest("Hi there.", "ryan"))))
    assert np.array_equal(audio, pcm_for("Hi there."))


def test_credentials_stay_out_of_labels_and_bad_urls_are_refused() -> None:
    e = engine("http://user:secret@gpu1:8091/v1")
    assert e.stats()[0]["upstream"] == "http://gpu1:8091/v1"
    with pytest.raises(ValueError, match="http"):
        RemoteEngine(["gpu1:8091"])
