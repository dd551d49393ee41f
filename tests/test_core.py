"""SpeechCore: lazy single load, idle unload, one inference thread, EDF order, cache."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from tests.fakes import GatedEngine, ManualClock
from tts_core import AudioCache, SpeechCore, SynthesisRequest
from tts_core.engine import EngineUnavailable
from tts_core.sim_engine import SimulatedEngine


async def collect(core: SpeechCore, text: str, buffered_s: float = 0.0) -> np.ndarray:
    # Texts here are labels the fake engine records ("A1"); normalization would spell them.
    request = SynthesisRequest(text, normalize="off")
    parts = [c async for c in core.synthesize(request, buffered_s=buffered_s)]
    return np.concatenate(parts)


async def wait_until(predicate, limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


async def test_concurrent_first_use_loads_exactly_once() -> None:
    engine = SimulatedEngine(load_delay_s=0.2)
    core = SpeechCore(engine, idle_unload_s=0)
    results = await asyncio.gather(*(collect(core, f"Sentence {i}.") for i in range(25)))
    assert engine.load_count == 1
    assert core.stats.loads == 1
    assert all(len(r) > 0 for r in results)
    await core.aclose()


async def test_all_inference_runs_on_one_worker_thread() -> None:
    engine = GatedEngine()
    core = SpeechCore(engine, idle_unload_s=0)
    await asyncio.gather(*(collect(core, f"s{i}") for i in range(8)))
    assert len(engine.threads) == 1
    (name,) = engine.threads
    assert name.startswith("voxgate-infer")
    await core.aclose()


async def test_no_unload_while_running_or_queued_then_unload_after_idle() -> None:
    clock = ManualClock()
    engine = GatedEngine(chunks=3)
    core = SpeechCore(engine, idle_unload_s=10, clock=clock, watchdog_interval_s=0.005)
    core.start()
    await core.ensure_loaded()
    engine.gate.clear()
    running = asyncio.create_task(collect(core, "running"))
    queued = asyncio.create_task(collect(core, "queued"))
    await asyncio.to_thread(engine.entered.wait, 5)
    clock.advance(1000)  # far past the idle limit while one runs and one waits
    await asyncio.sleep(0.05)  # many watchdog ticks
    assert engine.loaded and core.stats.unloads == 0
    engine.gate.set()
    await asyncio.gather(running, queued)
    assert engine.calls == ["running", "queued"]
    await asyncio.sleep(0.03)
    assert engine.loaded, "finished just now: not idle yet"
    clock.advance(11)
    await wait_until(lambda: not engine.loaded)
    assert core.stats.unloads == 1
    # The next request loads it again.
    await collect(core, "again")
    assert engine.load_count == 2
    await core.aclose()


async def test_last_used_refreshed_on_every_chunk() -> None:
    clock = ManualClock()
    engine = GatedEngine(chunks=4)
    core = SpeechCore(engine, idle_unload_s=10, clock=clock)
    seen = []
    async for _chunk in core.synthesize(SynthesisRequest("long sentence")):
        clock.advance(6)  # each chunk takes 6 s: the whole sentence spans 24 s
        seen.append(core._last_used)
    assert seen[1] - seen[0] == pytest.approx(6)
    assert clock() - core._last_used < 10
    await core.aclose()


async def test_idle_unload_zero_means_never() -> None:
    clock = ManualClock()
    engine = GatedEngine()
    core = SpeechCore(engine, idle_unload_s=0, clock=clock)
    core.start()
    await collect(core, "x")
    clock.advance(10_000)
    await asyncio.sleep(0.05)
    assert engine.loaded
    await core.aclose()


async def _order_of_service(fifo: bool) -> list[str]:
    engine = GatedEngine()
    core = SpeechCore(engine, idle_unload_s=0, fifo=fifo)
    await core.ensure_loaded()
    engine.gate.clear()
    first = asyncio.create_task(collect(core, "A1"))
    await asyncio.to_thread(engine.entered.wait, 5)
    # Session A's fourth sentence: its listener still has 6 s of audio buffered.
    a4 = asyncio.create_task(collect(core, "A4", buffered_s=6.0))
    await asyncio.sleep(0.01)
    # Session C's third sentence, 2 s buffered; session B's first, nothing buffered.
    c3 = asyncio.create_task(collect(core, "C3", buffered_s=2.0))
    await asyncio.sleep(0.01)
    b1 = asyncio.create_task(collect(core, "B1", buffered_s=0.0))
    await asyncio.sleep(0.01)
    engine.gate.set()
    await asyncio.gather(first, a4, c3, b1)
    await core.aclose()
    return engine.calls


async def test_earliest_playout_deadline_first() -> None:
    assert await _order_of_service(fifo=False) == ["A1", "B1", "C3", "A4"]


async def test_fifo_mode_keeps_arrival_order() -> None:
    assert await _order_of_service(fifo=True) == ["A1", "A4", "C3", "B1"]


async def test_cancelled_waiter_does_not_lose_the_slot() -> None:
    engine = GatedEngine()
    core = SpeechCore(engine, idle_unload_s=0)
    await core.ensure_loaded()
    engine.gate.clear()
    first = asyncio.create_task(collect(core, "first"))
    await asyncio.to_thread(engine.entered.wait, 5)
    doomed = asyncio.create_task(collect(core, "doomed"))
    later = asyncio.create_task(collect(core, "later", buffered_s=1))
    await asyncio.sleep(0.01)
    doomed.cancel()
    engine.gate.set()
    await first
    await later
    assert engine.calls == ["first", "later"]
    await wait_until(lambda: not core.scheduler.busy and not core.busy)
    await core.aclose()


async def test_abandoned_sentence_stops_streaming_engine_and_frees_slot() -> None:
    engine = GatedEngine(chunks=50)
    core = SpeechCore(engine, idle_unload_s=0)
    agen = core.synthesize(SynthesisRequest("long"))
    first = await agen.__anext__()
    assert first[0] == 1
    await agen.aclose()
    await wait_until(lambda: not core.scheduler.busy)
    await collect(core, "next")
    assert engine.calls == ["long", "next"]
    await wait_until(lambda: not core.busy)
    await core.aclose()


async def test_cache_hit_never_touches_engine() -> None:
    engine = GatedEngine(chunks=2)
    core = SpeechCore(engine, idle_unload_s=0, cache=AudioCache(8))
    first = await collect(core, "Press 1 for billing.")
    await wait_until(lambda: not core.busy)
    assert await core.unload()
    engine.gate.clear()  # the engine would now hang if it were called
    again = await asyncio.wait_for(collect(core, "Press 1 for billing."), 1)
    assert np.array_equal(first, again)
    assert engine.calls == ["Press 1 for billing."]
    assert not engine.loaded and engine.load_count == 1
    assert core.cache.hits == 1
    engine.gate.set()
    await core.aclose()


async def test_abandoned_sentence_is_not_cached() -> None:
    engine = GatedEngine(chunks=3)
    core = SpeechCore(engine, idle_unload_s=0, cache=AudioCache(8))
    agen = core.synthesize(SynthesisRequest("cut short"))
    await agen.__anext__()
    await agen.aclose()
    assert len(core.cache) == 0
    await core.aclose()


async def test_load_failure_is_reported_and_retried() -> None:
    class Flaky(SimulatedEngine):
        fail = True

        def load(self) -> None:
            if self.fail:
                raise EngineUnavailable("no weights")
            super().load()

    engine = Flaky()
    core = SpeechCore(engine, idle_unload_s=0)
    with pytest.raises(EngineUnavailable):
        await collect(core, "hello")
    assert core.last_error == "no weights" and core._pending == 0
    engine.fail = False
    assert len(await collect(core, "hello")) > 0
    assert core.stats.loads == 1 and core.stats.load_failures == 1
    await core.aclose()


async def test_event_loop_keeps_ticking_while_piper_synthesizes(piper_engine) -> None:
    core = SpeechCore(piper_engine, idle_unload_s=0)
    await core.ensure_loaded()
    gaps: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(probe())
    text = (
        "Thank you for calling the county water utility. Your call may be recorded for "
        "quality purposes. For billing questions, press one. To report a leak, press two."
    )
    t0 = time.perf_counter()
    pcm = await collect(core, text)
    busy = time.perf_counter() - t0
    stop.set()
    await task
    assert len(pcm) / piper_engine.sample_rate > 5  # it really rendered the paragraph
    assert busy > 0.1 and len(gaps) > 10
    assert max(gaps) < 0.050, f"event loop stalled for {max(gaps) * 1000:.1f} ms"


async def test_deadline_subtracts_expected_render_time() -> None:
    clock = ManualClock()
    core = SpeechCore(GatedEngine(), idle_unload_s=0, clock=clock)
    long = "word " * 20  # ~8 s of speech
    assert core.deadline(long, 4.0) == pytest.approx(clock() + 4.0)  # no RTF known yet
    core.rtf = 0.5
    # 8 s of audio at RTF 0.5 takes ~4 s to render: it must start now to avoid a gap,
    # before a one-word sentence whose listener has only 1 s left.
    assert core.deadline(long, 4.0) < core.deadline("Okay.", 1.0)
    await core.aclose()


async def test_rtf_is_learned_from_finished_sentences() -> None:
    engine = SimulatedEngine(rtf=0.2)
    core = SpeechCore(engine, idle_unload_s=0)
    await collect(core, "A sentence long enough to time reliably.")
    assert 0.15 < core.rtf < 0.6
    await core.aclose()
