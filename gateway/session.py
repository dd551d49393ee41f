"""One `/v1/speak` WebSocket session: text in, events and audio out.

The receive loop never blocks on synthesis, so `clear` is acted on at once
even while a long answer is still being spoken. Text goes through the
incremental segmenter into the speaking pipeline, which runs either on this
socket (the `format` legs) or on a live call the session attached to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from tts_core import EngineUnavailable

from .calls import Call
from .outputs import make_leg
from .pipeline import SpeechPipeline
from .protocol import (
    ClientMessage,
    ProtocolError,
    SpeakSettings,
    parse_client_message,
    parse_settings,
)
from .segmenter import SentenceSegmenter

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 10.0


def _base(language: str) -> str:
    return language.lower().split("-")[0]


def _speaks(languages: tuple[str, ...], language: str) -> bool:
    """`en` and `en-US` match a voice that speaks `en-us`; `auto` matches any voice."""
    return language.lower() == "auto" or _base(language) in {_base(x) for x in languages}


class ClientGone(Exception):
    """The client stopped reading (send timed out) or disconnected."""


class SpeakSession:
    def __init__(self, ws: WebSocket, gateway: Gateway, settings: SpeakSettings) -> None:
        self.ws = ws
        self.gw = gateway
        self.settings = settings
        self.id = uuid.uuid4().hex[:12]
        self.log_extra: dict[str, str] = {"session": self.id}
        self._send_lock = asyncio.Lock()
        self.segmenter = self._new_segmenter()
        self.pipeline: SpeechPipeline | None = None
        self.call: Call | None = None
        self.chars_accepted = 0
        self.messages_handled = 0
        self.closing = False
        self._timer: asyncio.Task[None] | None = None
        self._finisher: asyncio.Task[None] | None = None

    # -- sending -----------------------------------------------------------

    async def _send(self, message: str | bytes) -> None:
        if self.ws.application_state != WebSocketState.CONNECTED:
            raise ClientGone
        async with self._send_lock:
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that
                # lands as the send completes, and a barge-in then waits forever.
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    if isinstance(message, bytes):
                        await self.ws.send_bytes(message)
                    else:
                        await self.ws.send_text(message)
            except TimeoutError as exc:
                self.gw.metrics.errors.labels(code="slow_client").inc()
                raise ClientGone("client is not reading") from exc
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                raise ClientGone(str(exc)) from exc

    async def send_text(self, text: str) -> None:
        await self._send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self._send(data)

    async def emit(self, event: dict[str, Any]) -> None:
        if event.get("type") == "error":
            self.gw.metrics.errors.labels(code=event.get("code", "error")).inc()
        with contextlib.suppress(ClientGone):
            await self._send(json.dumps(event, separators=(",", ":"), ensure_ascii=False))

    async def error(self, exc: ProtocolError) -> None:
        log.info("client error %s: %s", exc.code, exc.message, extra=self.log_extra)
        await self.emit(exc.event())

    # -- set-up ------------------------------------------------------------

    async def _resolve_voice(self) -> dict[str, Any]:
        """Check voice and language against the engine; the first session loads it."""
        s = self.settings
        try:
            voices = await self.gw.core.voices()
        except EngineUnavailable as exc:
            await self.emit({"type": "error", "code": "engine_unavailable", "message": str(exc)})
            return {"voice": s.voice, "language": s.language}
        by_name = {v.name.lower(): v for v in voices}
        name = s.voice or self.gw.core.default_voice()
        voice = by_name.get(name.lower())
        if voice is None:
            raise ProtocolError(
                "invalid_setting",
                f"unknown voice {name!r}; available: {', '.join(v.name for v in voices)}",
                field="voice",
                fatal=True,
            )
        language = s.language or self.gw.settings.language
        if language and not _speaks(voice.languages, language):
            raise ProtocolError(
                "invalid_setting",
                f"voice {voice.name} speaks {', '.join(voice.languages)}, not {language!r}",
                field="language",
                fatal=True,
            )
        return {"voice": voice.name, "language": language or voice.default_language}

    def _new_segmenter(self) -> SentenceSegmenter:
        return SentenceSegmenter(
            self.settings.language or "en", max_wait_s=self.gw.settings.sentence_wait_s
        )

    async def restart(self, settings: SpeakSettings) -> None:
        """Apply a first-message `start`: rebuild the output and answer with a new `ready`."""
        await self._release_output()
        self.settings = settings
        self.segmenter = self._new_segmenter()
        await self.start()

    async def _release_output(self) -> None:
        if self.call is not None:
            self.gw.calls.detach(self.call, self.emit)
            self.call = None
            self.log_extra.pop("call", None)
        elif self.pipeline is not None:
            await self.pipeline.aclose()
        self.pipeline = None

    async def start(self) -> None:
        s = self.settings
        resolved = await self._resolve_voice()
        limits = self.gw.limits()
        if s.call:
            self.call = self.gw.calls.attach(s.call, self.emit)
            self.log_extra["call"] = self.call.id
            self.pipeline = self.call.pipeline
            self.pipeline.voice = resolved["voice"]
            self.pipeline.language = resolved["language"]
            self.pipeline.speed = s.speed
            fmt = self.call.leg.fmt
            output = {"carrier": self.call.carrier, "call": self.call.id}
        else:
            leg = make_leg(s, self.send_text, self.send_bytes)
            fmt = leg.fmt
            self.pipeline = SpeechPipeline(
                self.gw.core,
                leg,
                voice=resolved["voice"],
                language=resolved["language"],
                speed=s.speed,
                emit=self.emit,
                metrics=self.gw.metrics,
                max_queued=self.gw.settings.max_queued_sentences,
                carrier_marks=s.format == "twilio",
                log_extra=self.log_extra,
            )
            output = {}
        settings = s.as_dict() | resolved
        await self.emit(
            {
                "type": "ready",
                "session": self.id,
                "engine": self.gw.core.engine.name,
                "settings": settings,
                "frame_bytes": fmt.frame_bytes,
                "engine_sample_rate": self.gw.core.sample_rate,
                "limits": limits,
                **output,
            }
        )
        log.info("session ready", extra=self.log_extra | {"format": s.format})

    # -- receiving ---------------------------------------------------------

    async def handle(self, msg: ClientMessage) -> None:
        assert self.pipeline is not None
        if self.closing:
            raise ProtocolError("session_closing", f"{msg.type!r} after close is ignored")
        now = time.monotonic()
        if msg.type == "start":
            if self.messages_handled > 1:
                raise ProtocolError("already_started", "start is only allowed as the first message")
            await self.restart(parse_settings(msg.settings or {}, self.gw.default_speak_settings()))
            return
        if msg.type == "text":
            limit = self.gw.settings.max_session_chars
            if self.chars_accepted + len(msg.text) > limit:
                raise ProtocolError(
                    "text_limit", f"this session may send at most {limit} characters of text"
                )
            if self.pipeline.queued >= self.pipeline.max_queued:
                raise ProtocolError(
                    "queue_full",
                    "too many sentences waiting to be spoken; resend this text later",
                )
            if self.pipeline.first_text_at is None:
                self.pipeline.first_text_at = now
            self.chars_accepted += len(msg.text)
            self._release(self.segmenter.push(msg.text, now), now)
            self._arm_timer()
        elif msg.type == "flush":
            self._release(self.segmenter.flush(), now)
            self.pipeline.add_marker("flush")
        elif msg.type == "mark":
            self.pipeline.add_marker("mark", msg.name)
        elif msg.type == "clear":
            dropped = self.segmenter.clear()
            heard = await self.pipeline.clear()
            await self.emit({"type": "cleared", "heard": heard, "dropped_text": dropped.strip()})
        elif msg.type == "close":
            self.closing = True
            self._release(self.segmenter.flush(), now)
            self._finisher = asyncio.create_task(self._finish())

    def _release(self, sentences: list[str], now: float) -> None:
        if not sentences:
            return
        assert self.pipeline is not None
        # Accepted text is never dropped: the queue limit refuses new messages instead.
        self.pipeline.add_sentences(sentences, released_at=now, force=True)

    def _arm_timer(self) -> None:
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._release_on_timeout())

    async def _release_on_timeout(self) -> None:
        """Speak a sentence that never got its full stop, after a bounded wait."""
        while (deadline := self.segmenter.next_deadline()) is not None:
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            now = time.monotonic()
            self._release(self.segmenter.poll(now), now)

    async def _finish(self) -> None:
        assert self.pipeline is not None
        await self.pipeline.drain()
        await self.emit({"type": "done"})
        with contextlib.suppress(Exception):
            await self.ws.close(1000)

    async def run(self) -> None:
        """Serve the session until the client leaves, closes, or its call ends."""
        call_ended: asyncio.Task[Any] | None = None
        failed: asyncio.Task[Any] | None = None
        try:
            while True:
                if self.call is not None and call_ended is None:
                    call_ended = asyncio.create_task(self.call.ended.wait())
                if failed is None and self.pipeline is not None and self.call is None:
                    failed = asyncio.create_task(self.pipeline.failed.wait())
                receive = asyncio.create_task(self.ws.receive())
                waits: set[asyncio.Task[Any]] = {receive}
                if failed is not None:
                    waits.add(failed)
                if call_ended is not None:
                    waits.add(call_ended)
                if self._finisher is not None:
                    waits.add(self._finisher)
                done, _ = await asyncio.wait(
                    waits, timeout=self.gw.settings.session_idle_s, return_when="FIRST_COMPLETED"
                )
                if receive not in done:
                    receive.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await receive
                    if self._finisher is not None and self._finisher.done():
                        return
                    if failed is not None and failed.done():
                        await self._close_broken()
                        return
                    if call_ended is not None and call_ended.done():
                        await self.emit({"type": "done"})
                        await self.ws.close(1000)
                        return
                    if not done and self.pipeline is not None and self.pipeline.idle:
                        await self.emit(
                            {
                                "type": "error",
                                "code": "idle_timeout",
                                "message": "no activity; closing",
                            }
                        )
                        await self.ws.close(1000, "idle")
                        return
                    continue
                message = receive.result()
                if message["type"] == "websocket.disconnect":
                    return
                raw = message.get("text")
                if raw is None:
                    raw = message.get("bytes") or b""
                try:
                    parsed = parse_client_message(raw, max_bytes=self.gw.settings.max_message_bytes)
                except ProtocolError as exc:
                    await self.error(exc)
                    continue
                if not await self._dispatch(parsed):
                    return
        finally:
            for task in (call_ended, failed):
                if task is not None:
                    task.cancel()

    async def _close_broken(self) -> None:
        """The client stopped reading: free everything and close with a reason."""
        reason = (
            "client is not reading audio"
            if isinstance(getattr(self.pipeline, "failure", None), ClientGone)
            else "output failed"
        )
        log.info("closing session: %s", reason, extra=self.log_extra)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code=1008, reason=reason), 2)

    async def _dispatch(self, msg: ClientMessage) -> bool:
        """Handle one message; False when a fatal error closed the session."""
        self.messages_handled += 1
        try:
            await self.handle(msg)
        except ProtocolError as exc:
            await self.error(exc)
            if exc.fatal:
                with contextlib.suppress(Exception):
                    await self.ws.close(code=1008, reason=exc.code)
                return False
        return True

    async def aclose(self) -> None:
        for task in (self._timer, self._finisher):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._release_output()
