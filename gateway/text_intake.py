"""Streamed text into queued sentences, within the session's and its tenant's limits.

Every way text reaches a speaking pipeline — `/v1/speak`, and the OpenAI,
ElevenLabs and Deepgram dialects — goes through one `TextIntake`, so the
limits hold the same everywhere:

* a session sends at most `max_session_chars` characters;
* a message may complete at most the sentences there is room for (the
  pipeline's own queue and the tenant's), less one place **held for the
  pending tail**: a flush, a close or the bounded wait will release that tail,
  and the place it needs is taken when its text arrives, not when it is
  released. Otherwise two sessions of a tenant could each count on the same
  last place and the second flush would go past the limit;
* segmentation runs where the segmentation worker decides (never a long stall
  on the event loop); another session of the tenant may queue sentences
  meanwhile, so the room is checked again afterwards and a message that no
  longer fits is taken back whole.

A refused message leaves nothing behind (`IntakeRefused`); each caller words
the refusal in its own protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .pipeline import Cleared, SpeechPipeline
from .segmenter import SentenceSegmenter, TooManySentences

if TYPE_CHECKING:
    from .state import Gateway

log = logging.getLogger(__name__)


class IntakeRefused(Exception):
    """A text message refused whole: `text_limit` or `queue_full`."""

    def __init__(self, code: str, *, limit: int = 0, sentences: int = 0) -> None:
        super().__init__(code)
        self.code = code
        self.limit = limit  # text_limit: the session's character limit
        self.sentences = sentences  # queue_full: at least this many the message completes


class TextIntake:
    """One utterance stream's segmenter, feeding `pipeline`; see the module docstring."""

    def __init__(
        self,
        gw: Gateway,
        pipeline: SpeechPipeline,
        *,
        tenant: str,
        language: str,
        emit: Callable[[dict[str, Any]], Awaitable[None]],
        log_extra: dict[str, str] | None = None,
    ) -> None:
        self.gw = gw
        self.pipeline = pipeline
        self.tenant = tenant
        self._emit = emit
        self._log_extra = log_extra or {}
        self.segmenter = SentenceSegmenter(
            language,
            max_wait_s=gw.settings.sentence_wait_s,
            max_sentence_chars=gw.settings.max_sentence_chars,
        )
        self.chars_accepted = 0
        self._tail_held = False
        self._lock = asyncio.Lock()  # one segmenter operation at a time
        self._timer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    def queued_count(self) -> int:
        """What this stream holds of its tenant's sentence limit: queued, plus the tail's place."""
        return self.pipeline.queued + int(self._tail_held)

    def room(self) -> int:
        """Sentences this stream may still queue: its pipeline's room and its tenant's.

        The place held for this stream's own tail counts as room: releasing the
        tail moves it from "held" to "queued" without growing the tenant's total.
        """
        tenant_room = self.gw.tenants.room(self.tenant) + int(self._tail_held)
        return min(self.pipeline.room, tenant_room)

    async def push(self, text: str) -> None:
        """Append one text message as the client streamed it, or refuse it whole."""
        limit = self.gw.settings.max_session_chars
        if self.chars_accepted + len(text) > limit:
            raise IntakeRefused("text_limit", limit=limit)
        room = self.room() - 1
        if room < 0:
            raise IntakeRefused("queue_full")
        async with self._lock:
            now = time.monotonic()
            before = self.segmenter.snapshot()
            try:
                released = await self.gw.segmentation.run(
                    self.tenant, text, lambda: self.segmenter.push(text, now, limit=room)
                )
            except TooManySentences as exc:  # the segmenter took none of it
                raise IntakeRefused("queue_full", sentences=exc.released) from exc
            if len(released) > self.room() - 1:
                self.segmenter.restore(before)
                raise IntakeRefused("queue_full", sentences=len(released))
            if self.pipeline.first_text_at is None:
                self.pipeline.first_text_at = now
            self.chars_accepted += len(text)
            self._release(released, now)
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._release_on_timeout())

    async def flush(self) -> None:
        """Release the pending tail now (a flush, a close, a hang-up)."""
        async with self._lock:
            self._release(self.segmenter.flush(), time.monotonic())

    async def clear(self) -> Cleared:
        """Barge-in: drop the pending tail and the pipeline's queue, stop the audio."""
        async with self._lock:
            pending = self.segmenter.clear().strip()
            self._tail_held = False
        cleared = await self.pipeline.clear()
        return Cleared(cleared.heard, " ".join(t for t in (cleared.dropped, pending) if t))

    async def aclose(self) -> None:
        for task in (self._timer, *self._background):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _release(self, sentences: list[str], now: float) -> None:
        """Queue released sentences (never past the room left) and hold the new tail's place.

        Text a message brought was checked against the room before it was
        taken; what a flush, a close or the bounded wait releases is the
        pending tail, whose place was held when its text arrived (so the room is
        at least one), and if it splits into more sentences than fit, the last
        ones are spoken as one rather than dropped or queued past the limit.
        """
        if sentences:
            room = self.room()
            if room < 1:  # not reachable while the place for the tail is held; never exceed
                self._tail_held = bool(self.segmenter.pending.strip())
                self._overflow(sentences)
                return
            if len(sentences) > room:
                sentences = [*sentences[: room - 1], " ".join(sentences[room - 1 :])]
            self.pipeline.add_sentences(sentences, released_at=now)
        self._tail_held = bool(self.segmenter.pending.strip())

    def _overflow(self, sentences: list[str]) -> None:
        text = " ".join(sentences)
        log.warning("no room for %d released sentences", len(sentences), extra=self._log_extra)
        event = {
            "type": "error",
            "code": "queue_full",
            "message": "too many sentences waiting; this text was not spoken",
            "dropped_text": text,
        }
        task = asyncio.get_running_loop().create_task(self._emit(event))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _release_on_timeout(self) -> None:
        """Speak a sentence that never got its full stop, after a bounded wait."""
        while (deadline := self.segmenter.next_deadline()) is not None:
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            async with self._lock:
                now = time.monotonic()
                self._release(self.segmenter.poll(now), now)
