"""The batched engine behind the shared speech core.

The core keeps its shape (lazy load, one inference thread, idle unload, cache)
and gives a batched engine as many places as it has slots: requests are admitted
in deadline order, each streams its own chunks back, and a barge-in frees the
place as soon as the engine lets the request go.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from tests.qwen.runtime_support import TEXTS
from tts_core.core import SpeechCore
from tts_core.engine import SynthesisRequest
from tts_core.qwen import QwenEngine


def budget(_text: str, _language: str | None) -> int:
    return 25


@pytest.fixture
async def core(tiny_qwen_dir: Path) -> AsyncIterator[SpeechCore]:
    engine = QwenEngine(str(tiny_qwen_dir), device="cpu", slots=16, seed=9, token_budget=budget)
    core = SpeechCore(engine, idle_unload_s=0)
    core.start()
    yield core
    await core.aclose()


async def speak(core: SpeechCore, text: str, **kw: object) -> list[np.ndarray]:
    request = SynthesisRequest(text=text, voice="ryan", language="english")
    return [chunk async for chunk in core.synthesize(request, **kw)]  # type: ignore[arg-type]


async def test_the_core_gives_a_batched_engine_one_place_per_slot(core: SpeechCore) -> None:
    assert core.concurrency == 16 and core.scheduler.slots == 16
    piper_like = SpeechCore(QwenEngine(runtime="stock"))
    assert piper_like.concurrency == 1


async def test_sixteen_requests_decode_together_and_the_loop_keeps_ticking(
    core: SpeechCore,
) -> None:
    alone = [np.concatenate(await speak(core, TEXTS[i % 8] + f" {i}")) for i in range(2)]
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = loop.time()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    results = await asyncio.gather(*(speak(core, TEXTS[i % 8] + f" {i}") for i in range(16)))
    stop.set()
    await tick
    for i in (0, 1):  # seeded: the same audio alone as among 16 (the codec batch rounds)
        together = np.concatenate(results[i]).astype(np.int32)
        assert np.abs(together - alone[i]).max() <= 2
    assert all(sum(c.size for c in r) == 24 * 1920 for r in results)
    stats = core.engine.stats()  # type: ignore[attr-defined]
    over_8 = stats.batch_size.buckets.index(16)  # the bucket of batches 9..16
    assert stats.batch_size.counts[over_8] > 0
    assert max(gaps) < 0.050, f"the event loop stalled {max(gaps) * 1000:.0f} ms"


async def test_a_barge_in_frees_the_place_when_the_engine_lets_go(core: SpeechCore) -> None:
    request = SynthesisRequest(text=TEXTS[3], voice="ryan", language="english")
    stream = core.synthesize(request)
    first = await stream.__anext__()
    assert first.size > 0 and core.scheduler.in_use == 1
    await stream.aclose()  # the listener barged in
    for _ in range(200):
        if core.scheduler.in_use == 0 and not core.busy:
            break
        await asyncio.sleep(0.01)
    assert core.scheduler.in_use == 0 and not core.busy
    assert not core.engine.has_work()  # type: ignore[attr-defined]
    assert core.engine.stats().cancelled == 1  # type: ignore[attr-defined]
    assert len(await speak(core, TEXTS[4])) > 1  # and the next request streams as usual


async def test_waiting_requests_join_in_deadline_order(tiny_qwen_dir: Path) -> None:
    engine = QwenEngine(str(tiny_qwen_dir), device="cpu", slots=2, seed=9, token_budget=budget)
    core = SpeechCore(engine, idle_unload_s=0)
    try:
        await core.ensure_loaded()
        order: list[str] = []

        async def one(name: str, buffered: float) -> None:
            chunks = await speak(core, TEXTS[0], buffered_s=buffered)
            order.append(name)
            assert chunks

        running = [asyncio.create_task(one(n, 0.0)) for n in ("r1", "r2")]
        await asyncio.sleep(0.05)  # both places are taken
        late = [asyncio.create_task(one(n, b)) for n, b in (("relaxed", 30.0), ("urgent", 0.0))]
        await asyncio.gather(*running, *late)
        assert order.index("urgent") < order.index("relaxed")
    finally:
        await core.aclose()


async def test_the_engine_is_loaded_lazily_and_unloaded_when_idle(tiny_qwen_dir: Path) -> None:
    engine = QwenEngine(str(tiny_qwen_dir), device="cpu", slots=4, seed=9, token_budget=budget)
    core = SpeechCore(engine, idle_unload_s=0.3, watchdog_interval_s=0.05)
    core.start()
    try:
        assert not engine.loaded
        assert await speak(core, TEXTS[0])
        assert engine.loaded
        for _ in range(100):
            if core.stats.unloads:
                break
            await asyncio.sleep(0.02)
        assert not engine.loaded and core.stats.unloads == 1
        assert await speak(core, TEXTS[1])  # and it comes back
    finally:
        await core.aclose()


async def test_a_loaded_model_is_out_of_the_collectors_way_and_freed_on_unload(
    tiny_qwen_dir: Path,
) -> None:
    """A full collection walking the model stalled the loop for 260 ms (tts_core.heap)."""
    import gc
    import time
    import weakref

    engine = QwenEngine(str(tiny_qwen_dir), device="cpu", slots=2, token_budget=budget)
    core = SpeechCore(engine, idle_unload_s=0)
    try:
        await core.ensure_loaded()
        assert gc.get_freeze_count() > 10_000
        started = time.perf_counter()
        gc.collect()
        assert time.perf_counter() - started < 0.05
        model = weakref.ref(engine._tts.model)
        assert await core.unload()
        assert model() is None, "the unloaded model must be freed, frozen or not"
    finally:
        await core.aclose()
