"""The shared speech core: one engine, one inference thread, many sessions.

Everything that touches the model runs on a single worker thread so the event
loop never blocks (health checks, pacing and other calls keep ticking while a
sentence renders) and the model, which is not thread-safe, never sees two
callers at once. Callers enter through `DeadlineScheduler`, which serves the
listener that runs out of audio soonest. The model loads on first use and an
idle watchdog gives its memory back when nobody has spoken for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from . import heap
from .budget import speech_units
from .cache import AudioCache, CacheKey
from .engine import (
    BatchedEngine,
    Engine,
    EngineError,
    InvalidRequest,
    Resolved,
    StreamEnd,
    SynthesisRequest,
    Voice,
    concurrency,
    resolve_by_voices,
)
from .normalize import NormalizeSettingError, normalize
from .pieces import DEFAULT_PIECE_S, Quantum
from .scheduler import DeadlineScheduler

log = logging.getLogger(__name__)
T = TypeVar("T")

_END = object()

SECONDS_PER_UNIT = 0.4  # ~150 spoken words per minute: a rough length for a sentence's audio
RTF_SMOOTHING = 0.2  # weight of the newest sentence in the moving real-time factor


@dataclass
class Timing:
    """Filled in by `synthesize`: when the request waited, started and ended (clock s)."""

    asked: float = 0.0
    started: float = 0.0
    finished: float = 0.0

    @property
    def queue_s(self) -> float:
        return max(0.0, self.started - self.asked)

    @property
    def synth_s(self) -> float:
        return max(0.0, self.finished - self.started)


@dataclass
class CoreStats:
    loads: int = 0
    unloads: int = 0
    load_failures: int = 0
    syntheses: int = 0
    cache_hits: int = 0


class SpeechCore:
    """Lazy-loading, fairly scheduled access to one engine for the whole process."""

    def __init__(
        self,
        engine: Engine,
        *,
        idle_unload_s: float = 120.0,
        cache: AudioCache | None = None,
        fifo: bool = False,
        clock: Callable[[], float] = time.monotonic,
        watchdog_interval_s: float | None = None,
        piece_s: float = DEFAULT_PIECE_S,
    ) -> None:
        self.engine = engine
        self.idle_unload_s = idle_unload_s
        self.cache = cache if cache is not None else AudioCache(0)
        # A batched engine serves up to `concurrency` requests from one decode loop;
        # the scheduler still decides which waiting request gets the next free place.
        self.concurrency = concurrency(engine)
        self._batched = self.concurrency > 1 and isinstance(engine, BatchedEngine)
        self._stepping = False  # the batched engine's loop is running on the worker
        self.scheduler = DeadlineScheduler(self.concurrency, fifo=fifo)
        self.quantum = Quantum(piece_s, clock)  # under contention, long sentences go in pieces
        self.stats = CoreStats()
        self.last_error: str | None = None
        self._clock = clock
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="voxgate-infer")
        self._lock = asyncio.Lock()
        self._pending = 0  # requests queued or running (never unload while > 0)
        self._last_used = clock()
        self.rtf = 0.0  # moving average of synthesis time / audio time
        self._watchdog: asyncio.Task[None] | None = None
        self._watchdog_interval = watchdog_interval_s or max(0.05, min(30.0, idle_unload_s / 4))

    # -- lifecycle -------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self.engine.loaded

    @property
    def busy(self) -> bool:
        return self._pending > 0

    @property
    def queue_depth(self) -> int:
        return self.scheduler.waiting

    @property
    def sample_rate(self) -> int:
        return self.engine.sample_rate

    def start(self) -> None:
        """Start the idle watchdog (needs a running loop; a no-op when disabled)."""
        if self.idle_unload_s > 0 and self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch_idle())

    async def ensure_loaded(self) -> None:
        # Fast path without the lock, unless a load or an unload is under way: an unload
        # already queued on the worker thread would run before our synthesis.
        if self.engine.loaded and not self._lock.locked():
            return
        async with self._lock:
            if self.engine.loaded:  # someone loaded it while we waited
                return
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._executor, self.engine.load)
            except Exception as exc:
                self.stats.load_failures += 1
                self.last_error = str(exc)
                raise
            await loop.run_in_executor(self._executor, heap.settle)
            self.stats.loads += 1
            self.last_error = None
            self._last_used = self._clock()
            log.info("engine loaded", extra={"engine": self.engine.name})

    async def unload(self) -> bool:
        """Unload now unless work is queued or running. Returns True if it unloaded."""
        async with self._lock:
            if not self.engine.loaded or self._pending:
                return False
            loop = asyncio.get_running_loop()
            heap.thaw()
            await loop.run_in_executor(self._executor, self.engine.unload)
            self.stats.unloads += 1
            await loop.run_in_executor(self._executor, heap.settle)
            log.info("engine unloaded", extra={"engine": self.engine.name})
            return True

    async def _watch_idle(self) -> None:
        while True:
            await asyncio.sleep(self._watchdog_interval)
            idle = self._clock() - self._last_used
            if self.engine.loaded and not self._pending and idle >= self.idle_unload_s:
                await self.unload()

    async def aclose(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        if self.engine.loaded:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self.engine.unload)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def call(self, job: Callable[[], T]) -> T:
        """Run `job` on the inference thread with the engine loaded (voice registration:
        anything else that touches the model must not run beside a synthesis)."""
        self._pending += 1
        try:
            await self.ensure_loaded()
            return await asyncio.get_running_loop().run_in_executor(self._executor, job)
        finally:
            self._pending -= 1
            self._last_used = self._clock()

    async def voices(self) -> list[Voice]:
        await self.ensure_loaded()
        return self.engine.voices()

    def default_voice(self) -> str:
        return self.engine.default_voice()

    async def resolve(
        self, voice: str | None, language: str | None, speed: float = 1.0
    ) -> Resolved:
        """The engine's verdict on a session's voice, language and speed (loads it if needed).

        Raises `InvalidRequest` naming the field, or `EngineUnavailable`.
        """
        await self.ensure_loaded()
        resolve = getattr(self.engine, "resolve", None)
        if resolve is not None:
            return resolve(voice, language, speed)
        return resolve_by_voices(
            self.engine.voices(), self.engine.default_voice(), voice, language, speed
        )

    # -- synthesis -------------------------------------------------------

    def deadline(self, text: str, buffered_s: float) -> float:
        render_s = self.rtf * speech_units(text) * SECONDS_PER_UNIT
        return self._clock() + max(0.0, buffered_s) - render_s

    def _observe_rtf(self, synth_s: float, samples: int) -> None:
        if samples <= 0:
            return
        rtf = synth_s / (samples / self.engine.sample_rate)
        self.rtf = rtf if self.rtf == 0 else (1 - RTF_SMOOTHING) * self.rtf + RTF_SMOOTHING * rtf

    @staticmethod
    def speakable(request: SynthesisRequest) -> SynthesisRequest:
        """The request with its text as it should be spoken (SPEC §8: numbers, dates ...).

        Done once, here, so the cache key, the deadline estimate and the engine's
        token budget all see the words that will be spoken (a CJK "2026" is four
        characters written and more spoken). Only the core sees this text: callers
        keep reporting the sentence as the client sent it.
        """
        try:
            text = normalize(request.text, request.language, request.locale, request.normalize)
        except NormalizeSettingError as exc:
            raise InvalidRequest(str(exc), field="normalize") from exc
        return request if text == request.text else dataclasses.replace(request, text=text)

    def cache_key(self, request: SynthesisRequest) -> CacheKey:
        """The audio cache's key for a request as the client sent it (normalized here)."""
        return self._key(self.speakable(request))

    def _key(self, request: SynthesisRequest) -> CacheKey:
        # Instructions change the audio (engines that take them), so they are part of it.
        instruct = request.extra.get("instruct")
        voice = request.voice or ""
        return CacheKey(
            self.engine.name,
            f"{voice}\x1f{instruct}" if instruct else voice,
            (request.language or "").lower(),
            request.speed,
            request.text,
        )

    async def synthesize(
        self,
        request: SynthesisRequest,
        *,
        buffered_s: float = 0.0,
        timing: Timing | None = None,
        tenant: str = "",
    ) -> AsyncIterator[np.ndarray]:
        """Yield int16 PCM chunks for one sentence.

        `buffered_s` is how much audio the caller's listener still has queued.
        The request's deadline is the latest moment its rendering can start
        without the listener running dry: now + buffered_s minus the expected
        render time (moving real-time factor × the sentence's estimated
        length). The earliest deadline gets the engine next. Ignoring the
        render time would let a long sentence start too late and leave a gap.
        Between `tenant`s (API keys) the engine is shared fairly first (see
        `DeadlineScheduler`), so one tenant's many sessions cannot starve
        another tenant's callers.

        Leaving the iterator early abandons the sentence: a streaming engine
        stops at its next chunk, and the slot is released as soon as the engine
        thread returns.

        While other requests hold or wait for the engine, a long sentence is
        rendered in pieces, one `trip` each (`tts_core.pieces`), so nobody waits
        behind one long render.
        """
        timing = timing if timing is not None else Timing()
        timing.asked = self._clock()
        request = self.speakable(request)
        key = self._key(request)
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            self._last_used = timing.started = timing.finished = self._clock()
            yield cached
            return
        if self._batched:
            stream = self._synthesize_batched(request, buffered_s, timing, tenant)
        else:
            stream = self.quantum.render(
                self, request, buffered_s=buffered_s, timing=timing, tenant=tenant
            )
        parts: list[np.ndarray] = []
        # Closed here, at once, when the caller leaves early: the engine hears of a
        # barge-in now, not when the garbage collector finalizes the generator.
        async with contextlib.aclosing(stream):
            async for chunk in stream:
                parts.append(chunk)
                yield chunk
        if parts and self.cache.enabled:
            self.cache.put(key, np.concatenate(parts))

    async def _admit(self, deadline: float, tenant: str, cost: float, timing: Timing) -> None:
        """Count the request as pending (nothing unloads while it waits), load the
        engine if needed and wait for a place; on any failure it stops counting."""
        self._pending += 1
        try:
            await self.ensure_loaded()
            await self.scheduler.acquire(deadline, tenant, cost)
        except BaseException:
            self._pending -= 1
            raise
        timing.started = self._clock()

    def contended(self) -> bool:
        """Whether another request holds or waits for the engine right now."""
        return self.scheduler.in_use >= self.scheduler.slots or self.scheduler.waiting > 0

    async def trip(
        self,
        request: SynthesisRequest,
        *,
        deadline: float,
        tenant: str,
        cost: float,
        timing: Timing,
    ) -> AsyncIterator[np.ndarray]:
        """One turn on the engine: wait for a slot by `deadline`, render `request` whole."""
        await self._admit(deadline, tenant, cost, timing)

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        abandon = threading.Event()

        def render() -> None:
            try:
                for chunk in self.engine.synthesize(request):
                    if abandon.is_set():
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
                loop.call_soon_threadsafe(queue.put_nowait, _END)
            except EngineError as exc:  # delivered to the caller, not swallowed
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            except Exception as exc:
                # A backend bug (not an EngineError) must cost this sentence, not the session.
                failure = EngineError(f"engine failed: {exc!r}")
                failure.__cause__ = exc
                loop.call_soon_threadsafe(queue.put_nowait, failure)
            except BaseException as exc:
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        released = False

        def finished(_: object) -> None:
            nonlocal released
            if released:
                return
            released = True
            self._pending -= 1
            self._last_used = self._clock()
            self.scheduler.release()

        work = loop.run_in_executor(self._executor, render)
        work.add_done_callback(finished)
        self.stats.syntheses += 1

        parts: list[np.ndarray] = []
        complete = False
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    complete = True
                    timing.finished = self._clock()
                    self._observe_rtf(timing.synth_s, sum(len(p) for p in parts))
                    break
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, np.ndarray)
                self._last_used = self._clock()  # a long sentence is not "idle"
                parts.append(item)
                yield item
        finally:
            if not complete:
                abandon.set()
        # The engine thread returns right after its last chunk: wait for it and give the slot
        # back now (its done callback runs only later), so the slot is free before this
        # request's next piece, or the caller's next sentence, asks for one.
        await work
        finished(work)

    # -- batched engines ---------------------------------------------------------

    def _kick(self) -> None:
        """Make sure the batched engine's decode loop is running on the worker thread.

        Runs on the event loop's thread only, so `_stepping` needs no lock: a request
        submitted while the loop is finishing is picked up by the done callback.
        """
        engine = self.engine
        assert isinstance(engine, BatchedEngine)
        if self._stepping or not engine.has_work():
            return  # running already, or an engine whose work needs no thread (remote)
        self._stepping = True
        loop = asyncio.get_running_loop()
        run = loop.run_in_executor(self._executor, engine.run_until_idle)

        def stopped(done: asyncio.Future[None]) -> None:
            self._stepping = False
            if not done.cancelled() and done.exception() is not None:
                log.error("batched engine loop failed", exc_info=done.exception())
                return
            if engine.loaded and engine.has_work():
                self._kick()

        run.add_done_callback(stopped)

    async def _synthesize_batched(
        self,
        request: SynthesisRequest,
        buffered_s: float,
        timing: Timing,
        tenant: str,
    ) -> AsyncIterator[np.ndarray]:
        """Like the single-engine path, but the engine keeps many requests in flight.

        The scheduler's places are the engine's slots: a request waits (in deadline
        order, fair between tenants) for a free one, is submitted to the engine's
        queue and streamed back from its sink. Its place is freed when the engine
        says the request is over (the sink's terminal item), never earlier, so the
        core never admits more than the engine can hold, even after a barge-in.
        """
        engine = self.engine
        assert isinstance(engine, BatchedEngine)
        deadline = self.deadline(request.text, buffered_s)
        await self._admit(deadline, tenant, speech_units(request.text), timing)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._pending -= 1
                self._last_used = self._clock()
                self.scheduler.release()

        def arrived(item: object) -> None:  # on the event loop's thread
            if isinstance(item, StreamEnd | BaseException):
                release()
            queue.put_nowait(item)

        def sink(item: object) -> None:  # on the engine's thread
            loop.call_soon_threadsafe(arrived, item)

        try:
            ticket = engine.submit(request, sink)
        except BaseException:
            release()
            raise
        self._kick()
        self.stats.syntheses += 1
        parts: list[np.ndarray] = []
        complete = False
        try:
            while True:
                item = await queue.get()
                if isinstance(item, StreamEnd):
                    complete = True
                    timing.finished = self._clock()
                    self._observe_rtf(timing.synth_s, sum(len(p) for p in parts))
                    break
                if isinstance(item, BaseException):
                    if not isinstance(item, EngineError):
                        item = EngineError(f"engine failed: {item!r}")
                    raise item
                assert isinstance(item, np.ndarray)
                self._last_used = self._clock()
                parts.append(item)
                yield item
        finally:
            if not complete and not released:
                engine.cancel(ticket)  # the place is freed when the engine lets go
