"""What every dialect drives: text in, audio bytes and sentence events out.

A vendor dialect is a thin adapter: it parses its vendor's messages and writes
its vendor's replies, and everything between is the machinery `/v1/speak`
runs on. `SpeechStream` holds one `SentenceSegmenter` (sentences released as
they close, the first one early at a clause, a bounded wait for text that
never ends), one `SpeechPipeline` (synthesis through the shared core with its
deadline scheduling, tenants and cache, then framing in `telephony`), and the
same intake rules as a `/v1/speak` session: characters per session, the
session's and its tenant's queue room, large messages segmented off the event
loop by the shared `SegmentationWorker`.

What differs is the leg: a dialect client is not a phone line, so audio is
delivered as fast as it renders (`delivery_leg`: the pacer's lead is an hour),
several frames per write, to a callback the adapter wraps in its own framing.
The pipeline still tracks the listener's playout position from the audio
sent, which is what the core's earliest-deadline scheduling needs.

`Admission` counts a dialect connection or request as a session of its tenant,
so the process-wide and per-key limits cover every door alike, and server
shutdown closes dialect connections like `/v1/speak` ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from telephony.legs import CallLeg, SendAhead
from telephony.media import MediaFormat
from tts_core import EngineUnavailable, InvalidRequest, Resolved

from ..outputs import BinaryWire
from ..pipeline import PUBLIC_MESSAGES, Cleared, Emit, SpeechPipeline
from ..text_intake import IntakeRefused, TextIntake

if TYPE_CHECKING:
    from ..state import Gateway

log = logging.getLogger(__name__)

UNPACED_LEAD_MS = 3_600_000  # an hour ahead of real time: as fast as it renders
FEED_PIECE_CHARS = 240  # a long request body is fed in pieces this size


class StreamError(Exception):
    """A request a dialect must refuse, with a voxgate code its adapter maps to the vendor's."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class DeliveryWire(BinaryWire):
    """Frames as one bytes message per batch: a dialect joins them into its own body."""

    def __init__(self, fmt: MediaFormat) -> None:
        super().__init__(fmt, lead_ms=UNPACED_LEAD_MS)
        self.max_frames_per_message = 1 << 20


def delivery_leg(fmt: MediaFormat, deliver: Callable[[bytes], Awaitable[None]]) -> CallLeg:
    """A leg that hands frames to `deliver` as fast as they render (the lead is an hour)."""

    async def write(message: str | bytes) -> None:
        if isinstance(message, bytes):
            await deliver(message)

    return CallLeg(DeliveryWire(fmt), write, pacing=SendAhead(UNPACED_LEAD_MS))


async def resolve_vendor_voice(
    gw: Gateway, voice: str | None, language: str | None, speed: float = 1.0
) -> Resolved:
    """The engine's voice for a vendor's voice name.

    Clients send their vendor's names (`alloy`, an ElevenLabs voice id, an Aura
    model); those that name a voice voxgate has (an engine voice, a cloned
    voice id) are used, any other falls back to the engine's default voice so an
    unmodified client works. Language and speed errors are not masked.
    Raises `StreamError` (`invalid_setting`, `engine_unavailable`).
    """
    language = language or gw.settings.language
    try:
        try:
            return await gw.core.resolve(voice, language, speed)
        except InvalidRequest as exc:
            if exc.field != "voice" or voice is None:
                raise
            try:
                return await gw.core.resolve(None, language, speed)
            except InvalidRequest:
                raise exc from None
    except InvalidRequest as exc:
        raise StreamError("invalid_setting", str(exc), field=exc.field) from exc
    except EngineUnavailable as exc:
        log.error("engine unavailable: %s", exc)
        raise StreamError("engine_unavailable", PUBLIC_MESSAGES["engine_unavailable"]) from exc


class Admission:
    """One dialect connection counted as a session of its tenant (see the module docstring).

    Duck-types the part of `SpeakSession` that `gateway.app.shutdown` uses
    (`emit`, `close`, `end_reason`), so a draining server closes it cleanly.
    """

    def __init__(
        self,
        gw: Gateway,
        tenant: str,
        *,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.gw = gw
        self.tenant = tenant
        self.id = uuid.uuid4().hex[:12]
        self.end_reason = "disconnected"
        self.streams: list[SpeechStream] = []  # one per context (ElevenLabs multi-stream)
        self._on_shutdown = on_shutdown
        self._admitted = False

    def admit(self) -> str | None:
        """Take a place; None when admitted, else the refusal's code."""
        queued = lambda: sum(s.queued_count() for s in self.streams)  # noqa: E731
        refused = self.gw.admit(self, self.tenant, queued)
        self._admitted = refused is None
        return refused

    @property
    def admitted(self) -> bool:
        return self._admitted

    def leave(self) -> None:
        if self._admitted:
            self._admitted = False
            self.gw.leave(self, self.tenant)

    async def emit(self, event: dict[str, Any]) -> None:
        """Only shutdown calls this; the adapter says goodbye in its own dialect."""

    async def close(self, code: int, reason: str = "") -> None:
        if self._on_shutdown is not None:
            with contextlib.suppress(Exception):
                await self._on_shutdown()


class SpeechStream:
    """One utterance stream: a segmenter feeding a pipeline on a `delivery_leg`."""

    def __init__(
        self,
        gw: Gateway,
        resolved: Resolved,
        fmt: MediaFormat,
        *,
        deliver: Callable[[bytes], Awaitable[None]],
        emit: Emit,
        tenant: str = "",
        normalize: str = "on",
        extra: dict[str, object] | None = None,
        log_extra: dict[str, str] | None = None,
    ) -> None:
        self.resolved = resolved
        self._progress = asyncio.Event()
        self._emit = emit
        self.pipeline = SpeechPipeline(
            gw.core,
            delivery_leg(fmt, deliver),
            voice=resolved.voice,
            language=resolved.language,
            speed=resolved.speed,
            locale=resolved.locale,
            normalize=normalize,
            emit=self._on_event,
            metrics=gw.metrics,
            max_queued=gw.settings.max_queued_sentences,
            max_markers=gw.settings.max_pending_marks,
            tenant=tenant,
            log_extra=log_extra,
            extra=extra,
        )
        self.intake = TextIntake(
            gw,
            self.pipeline,
            tenant=tenant,
            language=resolved.locale or "en",
            emit=self._on_event,
            log_extra=log_extra,
        )

    def queued_count(self) -> int:
        """What this stream holds of its tenant's sentence limit (`TextIntake.queued_count`)."""
        return self.intake.queued_count()

    @property
    def failed(self) -> asyncio.Event:
        return self.pipeline.failed

    async def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") in ("sentence", "sentence_end", "error"):
            self._progress.set()  # a queue place may have opened
        await self._emit(event)

    async def push(self, text: str) -> None:
        """Append text as a client streamed it; refuses it whole (`StreamError`) when the
        session's text limit or the queue's room would be exceeded."""
        try:
            await self.intake.push(text)
        except IntakeRefused as exc:
            if exc.code == "text_limit":
                raise StreamError(
                    "text_limit", f"at most {exc.limit} characters of text per session"
                ) from exc
            raise StreamError("queue_full", "too many sentences waiting to be spoken") from exc

    async def feed(self, text: str) -> None:
        """Push a whole text (a request body), waiting for queue room between pieces
        rather than refusing: the client sent it all at once and waits for audio."""
        pieces = _pieces(text, FEED_PIECE_CHARS)
        for piece in pieces:
            while True:
                self._progress.clear()
                try:
                    await self.push(piece)
                    break
                except StreamError as exc:
                    if exc.code != "queue_full" or self.pipeline.failed.is_set():
                        raise
                await self._progress.wait()

    async def flush(self) -> None:
        """Speak what is pending now; the pipeline emits `flushed` once it is out."""
        if self.pipeline.markers_full:
            raise StreamError("too_many_flushes", "too many flushes waiting; resend later")
        await self.intake.flush()
        self.pipeline.add_marker("flush")

    async def clear(self) -> Cleared:
        """Barge-in: drop pending text and queued sentences, stop the audio."""
        return await self.intake.clear()

    async def finish(self) -> None:
        """Speak the rest and wait until its last byte is delivered."""
        await self.intake.flush()
        await self.pipeline.drain()

    async def aclose(self) -> None:
        await self.intake.aclose()
        await self.pipeline.aclose()


def _pieces(text: str, size: int) -> list[str]:
    """`text` cut after whitespace into pieces of about `size` characters (joined, the text)."""
    out: list[str] = []
    start = 0
    while len(text) - start > size:
        cut = text.rfind(" ", start, start + size)
        cut = start + size if cut <= start else cut + 1
        out.append(text[start:cut])
        start = cut
    if start < len(text):
        out.append(text[start:])
    return out
