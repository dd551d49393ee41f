"""One speaking pipeline: sentences in, paced frames out on a call leg.

Two stages run concurrently so the listener never waits on the engine more
than it must: the synthesis stage renders sentence N+1 (asking the shared core
for a slot by the listener's playout deadline) while the send stage paces out
sentence N. Between them sits a queue of at most one rendered sentence, so a
fast engine cannot run minutes ahead of the listener. `clear()` tears both
stages down at once: queued sentences are dropped, the sentence in synthesis
is abandoned (its audio never leaves), the leg stops within a frame, and the
text the listener actually heard is reconstructed from the playout position.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telephony.legs import CallLeg
from telephony.media import UtteranceEncoder
from tts_core import (
    EngineError,
    EngineUnavailable,
    InvalidRequest,
    SpeechCore,
    SynthesisRequest,
    Timing,
)
from tts_core.normalize.alignment import heard_words

from .metrics import Metrics

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], Awaitable[None]]

# What a client is told when a sentence fails; the engine's own words go to the log.
PUBLIC_MESSAGES = {
    "engine_error": "this sentence could not be synthesized; it was skipped",
    "engine_unavailable": "the speech engine is not available; try again later",
}


class QueueFull(Exception):
    """More sentences are waiting than the session may queue."""


class TooManyMarkers(Exception):
    """More marks and flushes are pending than the session may hold."""


@dataclass
class Cleared:
    """What a barge-in cut: the text the listener heard, and the text never spoken."""

    heard: str
    dropped: str


@dataclass
class Sentence:
    index: int
    text: str
    released_at: float


@dataclass
class Marker:
    kind: str  # "flush", "mark" or "close"
    name: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Rendered:
    sentence: Sentence
    frames: asyncio.Queue[list[bytes] | BaseException | None] = field(default_factory=asyncio.Queue)
    queue_ms: float = 0.0
    synth_ms: float = 0.0
    audio_ms: float = 0.0


@dataclass
class _Played:
    text: str
    start_ms: float
    end_ms: float


async def _no_events(_: dict[str, Any]) -> None:
    return None


class SpeechPipeline:
    """Speaks sentences on one leg, in order, with barge-in."""

    def __init__(
        self,
        core: SpeechCore,
        leg: CallLeg,
        *,
        voice: str | None = None,
        language: str | None = None,
        speed: float = 1.0,
        locale: str | None = None,
        normalize: str = "on",
        emit: Emit = _no_events,
        metrics: Metrics | None = None,
        max_queued: int = 32,
        max_markers: int = 256,
        carrier_marks: bool = False,
        tenant: str = "",
        clock: Callable[[], float] = time.monotonic,
        log_extra: dict[str, str] | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        self.core = core
        self.extra = dict(extra or {})  # engine options for every sentence (instructions)
        self.leg = leg
        self.voice = voice
        self.language = language
        self.speed = speed
        self.locale = locale
        self.normalize = normalize
        self.emit = emit
        self.metrics = metrics
        self.max_queued = max_queued
        self.max_markers = max_markers
        self.carrier_marks = carrier_marks
        self.tenant = tenant
        self._clock = clock
        self._log_extra = log_extra or {}
        self._items: deque[Sentence | Marker] = deque()
        self._queued = 0  # Sentences in _items, kept so the check per message is O(1)
        self._unsent: deque[Sentence] = deque()  # taken for synthesis, not yet started on the leg
        self._markers = 0  # Markers in _items, plus marks waiting to be echoed
        self._wakeup = asyncio.Event()
        self._ready: asyncio.Queue[_Rendered | Marker] = asyncio.Queue(maxsize=1)
        self._tasks: list[asyncio.Task[None]] = []
        self._mark_waiters: dict[asyncio.Task[None], Marker] = {}
        self._timeline: list[_Played] = []
        self._current: tuple[str, float, _Rendered] | None = None
        self._rendered_unsent_ms = 0.0
        # Positions are in the leg's own audio timeline (a call leg may have spoken before).
        self._sent_ms = leg.played_ms() + leg.buffered_ms()
        self._playout_end = clock() + leg.buffered_ms() / 1000
        self._next_index = 0
        self.first_text_at: float | None = None
        self.first_audio_at: float | None = None
        self.underruns = 0
        self.sentences_spoken = 0
        self.closed = False
        self.failure: BaseException | None = None
        self.failed = asyncio.Event()
        self._start_stages()

    # -- input -----------------------------------------------------------

    @property
    def queued(self) -> int:
        """Sentences waiting for the engine (not yet taken by the synthesis stage)."""
        return self._queued

    @property
    def room(self) -> int:
        return max(0, self.max_queued - self._queued)

    @property
    def pending_markers(self) -> int:
        return self._markers + len(self._mark_waiters)

    @property
    def markers_full(self) -> bool:
        """No more marks or flushes may wait to be played (a close still may)."""
        return self.pending_markers >= self.max_markers

    def add_sentences(self, texts: list[str], released_at: float | None = None) -> None:
        if not texts:
            return
        if self._queued + len(texts) > self.max_queued:
            raise QueueFull(f"more than {self.max_queued} sentences waiting")
        when = self._clock() if released_at is None else released_at
        if self.idle and self.leg.buffered_ms() <= 0:
            # A new turn: `heard` on a later clear covers this response, not earlier ones.
            self._timeline = []
        for text in texts:
            self._items.append(Sentence(self._next_index, text, when))
            self._next_index += 1
        self._queued += len(texts)
        self._wakeup.set()

    def add_marker(self, kind: str, name: str = "") -> Marker:
        """Queue a mark or flush in order with the sentences (close markers are never refused)."""
        if kind != "close" and self.markers_full:
            raise TooManyMarkers(f"more than {self.max_markers} marks and flushes pending")
        marker = Marker(kind, name)
        self._items.append(marker)
        self._markers += 1
        self._wakeup.set()
        return marker

    @property
    def idle(self) -> bool:
        """Nothing queued, rendering or waiting to be sent."""
        return not self._items and self._ready.empty() and not self._busy

    # -- stages ----------------------------------------------------------

    def _start_stages(self) -> None:
        self._busy = False
        self._ready = asyncio.Queue(maxsize=1)
        self._tasks = [
            asyncio.create_task(self._synth_stage(), name="voxgate-synth"),
            asyncio.create_task(self._send_stage(), name="voxgate-send"),
        ]

    async def _next_item(self) -> Sentence | Marker:
        while not self._items:
            self._wakeup.clear()
            await self._wakeup.wait()
        item = self._items.popleft()
        if isinstance(item, Sentence):
            self._queued -= 1
        else:
            self._markers -= 1
        return item

    def buffered_s(self) -> float:
        """Audio the listener has queued: on the leg plus rendered but unsent."""
        on_leg = max(0.0, self._playout_end - self._clock())
        return on_leg + self._rendered_unsent_ms / 1000.0

    async def _synth_stage(self) -> None:
        while True:
            item = await self._next_item()
            self._busy = True
            if isinstance(item, Marker):
                await self._ready.put(item)
                self._busy = False
                continue
            rendered = _Rendered(item)
            self._unsent.append(item)
            await self._ready.put(rendered)
            await self._render(rendered)
            self._busy = False

    async def _render(self, rendered: _Rendered) -> None:
        sentence = rendered.sentence
        request = SynthesisRequest(
            sentence.text,
            self.voice,
            self.language,
            self.speed,
            normalize=self.normalize,
            locale=self.locale,
            extra=self.extra,
        )
        encoder = UtteranceEncoder(self.core.sample_rate, self.leg.fmt)
        frame_ms = self.leg.fmt.frame_ms
        timing = Timing()
        try:
            async for chunk in self.core.synthesize(
                request, buffered_s=self.buffered_s(), timing=timing, tenant=self.tenant
            ):
                self._push(rendered, encoder.feed(chunk), frame_ms)
            self._push(rendered, encoder.finish(), frame_ms)
            rendered.queue_ms = timing.queue_s * 1000
            rendered.synth_ms = timing.synth_s * 1000
            if self.metrics:
                self.metrics.observe_synthesis(rendered.synth_ms / 1000, rendered.audio_ms / 1000)
            await rendered.frames.put(None)
        except (EngineError, InvalidRequest) as exc:
            await rendered.frames.put(exc)

    def _push(self, rendered: _Rendered, frames: list[bytes], frame_ms: int) -> None:
        if frames:
            ms = len(frames) * frame_ms
            rendered.audio_ms += ms
            self._rendered_unsent_ms += ms
            rendered.frames.put_nowait(frames)

    async def _send_stage(self) -> None:
        try:
            while True:
                item = await self._ready.get()
                if isinstance(item, Marker):
                    await self._pass_marker(item)
                else:
                    await self._send_sentence(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The output is broken (client gone or not reading, socket error): nothing
            # more can be delivered, so stop and let the owner close the connection.
            log.info("output failed: %r", exc, extra=self._log_extra)
            self.failure = exc
            self.failed.set()

    async def _pass_marker(self, marker: Marker) -> None:
        if marker.kind == "mark":
            waiter = asyncio.create_task(self._echo_mark(marker, self._sent_ms))
            self._mark_waiters[waiter] = marker
            waiter.add_done_callback(lambda t: self._mark_waiters.pop(t, None))
            return
        # `flushed` and `done` mean the last frame has left the gateway, not just
        # entered a leg's own send queue.
        await self.leg.wait_sent()
        if marker.kind == "flush":
            await self.emit({"type": "flushed"})
        marker.done.set()

    async def _echo_mark(self, marker: Marker, position_ms: float) -> None:
        if not await self.leg.wait_played(position_ms):
            return  # cut by a clear (reported there as not played) or the call ended
        await self.emit({"type": "mark", "name": marker.name, "played": True})
        marker.done.set()

    async def _send_sentence(self, rendered: _Rendered) -> None:
        sentence = rendered.sentence
        frame_ms = self.leg.fmt.frame_ms
        start_ms = self._sent_ms
        first_at: float | None = None
        self._current = (sentence.text, start_ms, rendered)
        if self._unsent and self._unsent[0] is sentence:
            self._unsent.popleft()
        while True:
            batch = await rendered.frames.get()
            if batch is None:
                break
            if isinstance(batch, BaseException):
                self._current = None
                self._rendered_unsent_ms -= rendered.audio_ms - (self._sent_ms - start_ms)
                await self._sentence_failed(sentence, batch)
                return
            at = 0
            while at < len(batch):
                if first_at is None:
                    first_at = self._clock()
                    self._note_first_frame(sentence, first_at)
                    await self.emit(
                        {"type": "sentence", "index": sentence.index, "text": sentence.text}
                    )
                sent = await self.leg.send_frames(batch[at:])
                if not sent:
                    self._current = None
                    return  # cut by a clear or the far end hung up: abandon the sentence
                at += sent
                self._sent_ms += sent * frame_ms
                self._rendered_unsent_ms -= sent * frame_ms
                self._playout_end = max(self._playout_end, self._clock()) + sent * frame_ms / 1000
        self._current = None
        self._timeline.append(_Played(sentence.text, start_ms, self._sent_ms))
        self.sentences_spoken += 1
        if self.carrier_marks and first_at is not None:
            await self.leg.send_mark(f"voxgate-s{sentence.index}")
        ttfa_ms = ((first_at or self._clock()) - sentence.released_at) * 1000
        await self.emit(
            {
                "type": "sentence_end",
                "index": sentence.index,
                "audio_ms": round(rendered.audio_ms),
                "queue_ms": round(rendered.queue_ms, 1),
                "synth_ms": round(rendered.synth_ms, 1),
                "ttfa_ms": round(ttfa_ms, 1),
            }
        )

    def _note_first_frame(self, sentence: Sentence, now: float) -> None:
        if self.first_audio_at is None:
            self.first_audio_at = now
            if self.metrics and self.first_text_at is not None:
                self.metrics.ttfa.observe(now - self.first_text_at)
        elif now > self._playout_end + self.leg.fmt.frame_ms / 1000 and (
            sentence.released_at < self._playout_end
        ):
            # The listener ran dry although this sentence was already waiting.
            self.underruns += 1
            if self.metrics:
                self.metrics.underruns.inc()
        if self.metrics:
            self.metrics.sentence_ttfa.observe(max(0.0, now - sentence.released_at))

    async def _sentence_failed(self, sentence: Sentence, exc: BaseException) -> None:
        """Report a failed sentence: the detail to the log, a public message to the client.

        An engine's message can hold file paths, library errors or a backend's
        repr (a Piper voice that failed to load names its path); none of that is
        the client's business. Only an `InvalidRequest`, which is about the
        client's own voice, language or speed, is passed on as it is.
        """
        code = getattr(exc, "code", "engine_error")
        if isinstance(exc, EngineUnavailable):
            code = "engine_unavailable"
        if self.metrics:
            self.metrics.errors.labels(code=code).inc()
        log.warning("sentence %s failed: %s", sentence.index, exc, extra=self._log_extra)
        event: dict[str, Any] = {
            "type": "error",
            "code": code,
            "message": PUBLIC_MESSAGES.get(code, PUBLIC_MESSAGES["engine_error"]),
            "index": sentence.index,
        }
        if isinstance(exc, InvalidRequest):
            event["message"] = str(exc)
            event["field"] = exc.field
        await self.emit(event)

    # -- control ---------------------------------------------------------

    async def _stop_stages(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def clear(self) -> Cleared:
        """Barge-in: stop audio now; report what the listener heard and what was dropped."""
        await self._stop_stages()
        dropped_markers = [i for i in self._items if isinstance(i, Marker)]
        never_started = [*self._unsent, *(i for i in self._items if isinstance(i, Sentence))]
        self._items.clear()
        self._unsent.clear()
        self._queued = self._markers = 0
        played_ms = await self.leg.clear()
        heard, unheard = self._split_heard(played_ms)
        unheard.extend(s.text for s in never_started)
        self._timeline = []
        self._current = None
        self._sent_ms = played_ms
        self._rendered_unsent_ms = 0.0
        self._playout_end = self._clock()
        for waiter, marker in list(self._mark_waiters.items()):
            waiter.cancel()
            dropped_markers.append(marker)
        for marker in dropped_markers:
            if marker.kind == "mark":
                await self.emit({"type": "mark", "name": marker.name, "played": False})
            marker.done.set()
        if not self.closed:
            self._start_stages()
        return Cleared(" ".join(heard).strip(), " ".join(unheard).strip())

    def _split_heard(self, played_ms: float) -> tuple[list[str], list[str]]:
        """Words of this response the listener heard by `played_ms`, and the rest.

        Within the sentence being played, the cut follows the spoken length of each
        written word (`heard_words`), so a long amount or phone number is reported as
        heard only once its audio has played.
        """
        heard: list[str] = []
        unheard: list[str] = []
        timeline = list(self._timeline)
        if self._current is not None:
            text, start_ms, rendered = self._current
            timeline.append(_Played(text, start_ms, start_ms + rendered.audio_ms))
        for item in timeline:
            parts = item.text.split()
            if played_ms >= item.end_ms:
                cut = len(parts)
            elif played_ms > item.start_ms:
                share = (played_ms - item.start_ms) / max(1.0, item.end_ms - item.start_ms)
                # By what is spoken for each word, not by word count: "$1,234.56" is one
                # written word and seconds of audio (SPEC §8: heard is the client's text).
                cut = heard_words(item.text, share, self.language, self.locale, self.normalize)
            else:
                cut = 0
            heard.extend(parts[:cut])
            unheard.extend(parts[cut:])
        return heard, unheard

    async def drain(self) -> None:
        """Wait until everything queued so far has been sent.

        Pending client marks are echoed (which waits for their playout) before
        this returns, so `done` is always the last event of a session. Without
        marks it returns as soon as the last frame is out: an unpaced client
        (large `lead_ms`) does not wait for the gateway's clock.
        """
        marker = self.add_marker("close")
        await marker.done.wait()
        if self._mark_waiters:
            await asyncio.gather(*self._mark_waiters, return_exceptions=True)

    async def aclose(self) -> None:
        self.closed = True
        await self._stop_stages()
        for waiter in list(self._mark_waiters):
            waiter.cancel()
        self._items.clear()
        self._unsent.clear()
        self._queued = self._markers = 0
