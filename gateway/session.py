"""One `/v1/speak` WebSocket session: text in, events and audio out.

The receive loop never blocks on synthesis, so `clear` is acted on at once
even while a long answer is still being spoken. Text goes through the
incremental segmenter into the speaking pipeline, which runs either on this
socket (the `format` legs) or on a live call the session attached to. An
attached session also hears the caller (binary messages in its own
`encoding`, `sample_rate` and `frame_ms`, unless `listen=0`) and may end the
call (`hangup`: what is queued is spoken and played first).
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

from telephony.carriers import carrier
from tts_core import EngineUnavailable, InvalidRequest, Resolved

from . import attachment
from .calls import Call
from .cluster import Owner
from .outputs import make_leg
from .pipeline import PUBLIC_MESSAGES, SpeechPipeline
from .protocol import (
    ClientMessage,
    ProtocolError,
    SpeakSettings,
    parse_client_message,
    parse_settings,
)
from .sending import SEND_TIMEOUT_S, close_quietly, send_message
from .text_intake import IntakeRefused, TextIntake

if TYPE_CHECKING:
    from .state import Gateway

log = logging.getLogger(__name__)


class ClientGone(Exception):
    """The client stopped reading (send timed out) or disconnected."""


class SessionEnded(Exception):
    """The session cannot go on (the engine is unavailable); its socket is already closed."""


class CallElsewhere(Exception):
    """The call to attach to lives on another replica: the session is to be bridged there."""

    def __init__(self, owner: Owner) -> None:
        super().__init__(owner.replica)
        self.owner = owner


class SpeakSession:
    def __init__(
        self,
        ws: WebSocket,
        gateway: Gateway,
        settings: SpeakSettings,
        tenant: str = "",
        *,
        bridged: bool = False,
    ) -> None:
        self.ws = ws
        self.bridged = bridged  # came over a bridge from another replica: never bridged again
        self.gw = gateway
        self.settings = settings
        self.tenant = tenant
        self.id = uuid.uuid4().hex[:12]
        self.log_extra: dict[str, str] = {"session": self.id, "tenant": tenant}
        self.started_at = time.monotonic()
        self.end_reason = "disconnected"
        self._send_lock = asyncio.Lock()
        self.pipeline: SpeechPipeline | None = None
        self.intake: TextIntake | None = None  # text into `pipeline`, once started
        self.call: Call | None = None
        self.messages_handled = 0
        self.closing = False
        self._finisher: asyncio.Task[None] | None = None
        self._hanger: asyncio.Task[None] | None = None

    # -- sending -----------------------------------------------------------

    async def _send(self, message: str | bytes) -> None:
        if self.ws.application_state != WebSocketState.CONNECTED:
            raise ClientGone
        async with self._send_lock:
            try:
                # The module's own name, read at each send (the slow-client test shortens it).
                await send_message(self.ws, message, SEND_TIMEOUT_S)
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

    async def close(self, code: int, reason: str = "") -> None:
        """Close the socket (a close frame, never a dropped connection); idempotent."""
        await close_quietly(self.ws, code, reason)

    # -- set-up ------------------------------------------------------------

    async def _resolve(self) -> Resolved:
        """The engine's verdict on voice, language and speed; the first session loads it."""
        s = self.settings
        try:
            return await self.gw.core.resolve(
                s.voice, s.language or self.gw.settings.language, s.speed
            )
        except InvalidRequest as exc:
            raise ProtocolError("invalid_setting", str(exc), field=exc.field, fatal=True) from exc
        except EngineUnavailable as exc:
            # The detail (paths, library errors) goes to the log, not to the client.
            log.error("engine unavailable: %s", exc, extra=self.log_extra)
            await self.emit(
                {
                    "type": "error",
                    "code": "engine_unavailable",
                    "message": PUBLIC_MESSAGES["engine_unavailable"],
                }
            )
            self.end_reason = "engine_unavailable"
            await self.close(1011, "engine unavailable")
            raise SessionEnded from exc

    async def restart(self, settings: SpeakSettings) -> None:
        """Apply a first-message `start`: rebuild the output and answer with a new `ready`."""
        await self._release_output()
        self.settings = settings
        await self.start()

    async def _release_output(self) -> None:
        if self.intake is not None:
            await self.intake.aclose()
            self.intake = None
        if self.call is not None:
            self.gw.calls.detach(self.call, self.emit)
            self.call = None
            self.log_extra.pop("call", None)
        elif self.pipeline is not None:
            await self.pipeline.aclose()
        self.pipeline = None

    async def start(self) -> None:
        s = self.settings
        if not self.bridged and (owner := await attachment.held_elsewhere(self.gw, s)):
            raise CallElsewhere(owner)
        resolved = await self._resolve()
        if s.call or s.session:
            self.call = self.gw.calls.attach(self.emit, call_id=s.call or "", alias=s.session or "")
            self.log_extra["call"] = self.call.id
            self.pipeline = attachment.bring(self.call, resolved, s)
            leg_of_output = self.call.leg
            fmt = leg_of_output.fmt
            # What the listener actually gets is the call's own leg, not this socket's query.
            settings, output = attachment.ready_fields(self.call, s)
        else:
            leg = leg_of_output = make_leg(s, self.send_text, self.send_bytes)
            fmt = leg.fmt
            self.pipeline = SpeechPipeline(
                self.gw.core,
                leg,
                voice=resolved.voice,
                language=resolved.language,
                speed=resolved.speed,
                locale=resolved.locale,
                normalize=s.normalize,
                emit=self.emit,
                metrics=self.gw.metrics,
                max_queued=self.gw.settings.max_queued_sentences,
                max_markers=self.gw.settings.max_pending_marks,
                carrier_marks=s.format not in ("binary", "json")
                and carrier(s.format).playback_acks,
                tenant=self.tenant,
                log_extra=self.log_extra,
            )
            settings = s.as_dict()
            output = {}
        self.intake = TextIntake(
            self.gw,
            self.pipeline,
            tenant=self.tenant,
            language=s.language or "en",
            emit=self.emit,
            log_extra=self.log_extra,
        )
        settings |= {"voice": resolved.voice, "language": resolved.language}
        await self.emit(
            {
                "type": "ready",
                "session": self.id,
                "engine": self.gw.core.engine.name,
                "settings": settings,
                "locale": resolved.locale,
                "frame_bytes": fmt.frame_bytes,
                "frames_per_message": leg_of_output.max_frames_per_message,
                "engine_sample_rate": self.gw.core.sample_rate,
                "limits": self.gw.limits(),
                **output,
            }
        )
        log.info("session ready", extra=self.log_extra | {"format": settings["format"]})
        if self.call is not None:
            # After `ready`: the first binary message an application gets is caller audio.
            attachment.start_listening(self.call, s, self.send_bytes, self.gw.metrics)

    # -- receiving ---------------------------------------------------------

    async def handle(self, msg: ClientMessage) -> None:
        assert self.pipeline is not None and self.intake is not None
        if self.closing:
            raise ProtocolError("session_closing", f"{msg.type!r} after close is ignored")
        if msg.type == "start":
            if self.messages_handled > 1:
                raise ProtocolError("already_started", "start is only allowed as the first message")
            await self.restart(parse_settings(msg.settings or {}, self.gw.default_speak_settings()))
            return
        if msg.type == "text":
            await self._take_text(msg.text)
        elif msg.type == "flush":
            self._check_markers()
            await self.intake.flush()
            self.pipeline.add_marker("flush")
        elif msg.type == "mark":
            self._check_markers()
            self.pipeline.add_marker("mark", msg.name)
        elif msg.type == "clear":
            cleared = await self.intake.clear()
            await self.emit(
                {"type": "cleared", "heard": cleared.heard, "dropped_text": cleared.dropped}
            )
        elif msg.type == "close":
            self.closing = True
            await self.intake.flush()
            self._finisher = asyncio.create_task(self._finish())
        elif msg.type == "hangup":
            if self.call is None:
                raise ProtocolError(
                    "not_attached", "hangup ends the call a session is attached to; this has none"
                )
            self.closing = True
            await self.intake.flush()
            self._hanger = asyncio.create_task(
                attachment.hang_up_after_playout(
                    self.gw.calls, self.call, self.pipeline, self.log_extra
                )
            )

    def _check_markers(self) -> None:
        assert self.pipeline is not None
        if self.pipeline.markers_full:
            raise ProtocolError(
                "too_many_marks",
                f"at most {self.pipeline.max_markers} marks and flushes may wait to be played;"
                " resend later",
            )

    @property
    def chars_accepted(self) -> int:
        return self.intake.chars_accepted if self.intake is not None else 0

    def queued_count(self) -> int:
        """What this session holds of its tenant's sentence limit (`TextIntake.queued_count`)."""
        return self.intake.queued_count() if self.intake is not None else 0

    async def _take_text(self, text: str) -> None:
        """Append a text message, or refuse it whole (nothing of it is kept)."""
        assert self.intake is not None
        try:
            await self.intake.push(text)
        except IntakeRefused as exc:
            if exc.code == "text_limit":
                raise ProtocolError(
                    "text_limit", f"this session may send at most {exc.limit} characters of text"
                ) from exc
            detail = f" (this message completes {exc.sentences} or more)" if exc.sentences else ""
            raise ProtocolError(
                "queue_full",
                "too many sentences waiting to be spoken"
                f"{detail}; resend this text later or in smaller pieces",
            ) from exc

    async def _finish(self) -> None:
        assert self.pipeline is not None
        await self.pipeline.drain()
        await self.emit({"type": "done"})
        self.end_reason = "closed"
        await self.close(1000)

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
                        self.end_reason = "call_ended"
                        await self.close(1000)
                        return
                    if not done and self.pipeline is not None and self.pipeline.idle:
                        await self.emit(
                            {
                                "type": "error",
                                "code": "idle_timeout",
                                "message": "no activity; closing",
                            }
                        )
                        self.end_reason = "idle"
                        await self.close(1000, "idle")
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
        self.end_reason = "output_failed"
        await self.close(1008, reason)

    async def _dispatch(self, msg: ClientMessage) -> bool:
        """Handle one message; False when a fatal error closed the session."""
        self.messages_handled += 1
        try:
            await self.handle(msg)
        except ProtocolError as exc:
            await self.error(exc)
            if exc.fatal:
                self.end_reason = exc.code
                await self.close(1008, exc.code)
                return False
        except SessionEnded:
            return False
        return True

    async def aclose(self) -> None:
        for task in (self._finisher, self._hanger):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._release_output()
