"""ElevenLabs' input-streaming WebSockets under `/elevenlabs` (AsyncAPI: asyncapi.yml).

`/elevenlabs/v1/text-to-speech/{voice_id}/stream-input` and `.../multi-stream-input`.
Query: `model_id` (any), `output_format` (`ulaw_8000`, `alaw_8000`, `pcm_8000`
... `pcm_48000`, `mp3_<rate>_<kbps>`), `inactivity_timeout` (s, default 20,
at most 180), `language_code`, `apply_text_normalization` (`auto`/`on` read
numbers as words, `off` does not), `seed`, `auto_mode` and `sync_alignment`
(accepted: voxgate always generates at sentence boundaries and always sends
alignment). Auth: `xi-api-key` header, or `xi_api_key` (or `authorization:
Bearer`) in the first message.

Client messages: the first `{"text": " ", "voice_settings", "generation_config",
"xi_api_key"}` sets a stream up (`voice_settings.speed` is honoured;
`chunk_length_schedule` is not: the segmenter releases each sentence as soon
as it closes, which is what the schedule approximates); `{"text": "... ",
"flush": true}` appends and speaks the rest now (`try_trigger_generation` is
implied); `{"text": ""}` ends the input (stream-input). Multi-stream adds
`context_id` to each, `{"context_id", "close_context": true}` (stop that
context now: its queued audio is dropped, as on a barge-in), `{"close_socket":
true}` (finish every context, then close), and `{"text": "", "context_id"}`
as a keep-alive. At most `MAX_CONTEXTS` contexts per socket.

Replies: `{"audio": base64, "isFinal": null, "alignment", "normalizedAlignment"}`
(multi-stream: with `contextId`), then `{"isFinal": true}` when a stream ends.
A sentence's alignment rides on its last audio message (the whole sentence
when it is rendered at once, as Piper does and cache hits are); when more
audio of it follows, the alignment comes in a message of its own after it
(`alignment.py` says how timings are computed). Errors: `{"message", "error",
"code"}`, then close 1008 with the reason, as the vendor does for bad input.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from telephony.containers import ContainerEncoder, make_container_encoder
from telephony.media import MediaFormat
from telephony.stream_format import STREAM_RATES, StreamFormat

from ..auth import origin_allowed
from .alignment import alignment, normalized_alignment
from .keys import tenant_for_key
from .socket import DialectSocket, SocketGone, Stopped
from .stream import Admission, SpeechStream, StreamError, resolve_vendor_voice

if TYPE_CHECKING:
    from ..state import Gateway

log = logging.getLogger(__name__)

MAX_CONTEXTS = 8  # the vendor allows 5; a limit is what matters
DEFAULT_CONTEXT = "default"
_MP3 = re.compile(r"mp3_(\d+)_(\d+)")


class ElevenLabsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Output:
    fmt: MediaFormat
    mp3_bit_rate: int | None = None


def parse_output_format(name: str) -> Output:
    if name in ("ulaw_8000", "alaw_8000"):
        return Output(MediaFormat("mulaw" if name[0] == "u" else "alaw", 8000, 20))
    if name.startswith("pcm_") and name[4:].isdigit() and int(name[4:]) in STREAM_RATES:
        return Output(StreamFormat("pcm16", int(name[4:]), 20))
    if (m := _MP3.fullmatch(name)) and int(m[1]) in (22050, 24000, 44100) and int(m[2]) <= 320:
        return Output(StreamFormat("pcm16", int(m[1]), 20), int(m[2]) * 1000)
    rates = ", ".join(f"pcm_{r}" for r in STREAM_RATES)
    raise ElevenLabsError(
        "invalid_output_format",
        f"output_format {name[:32]!r} is not offered; use ulaw_8000, alaw_8000, {rates} or "
        "mp3_<22050|24000|44100>_<kbps>",
    )


@dataclass(frozen=True)
class Query:
    output: Output
    inactivity_s: float
    language: str | None
    normalize: str
    seed: int | None


def parse_query(query: dict[str, str]) -> Query:
    output = parse_output_format(query.get("output_format", "mp3_44100_128"))
    try:
        inactivity = float(query.get("inactivity_timeout", "20"))
        seed = int(query["seed"]) if query.get("seed") else None
    except ValueError as exc:
        raise ElevenLabsError("invalid_query", "inactivity_timeout and seed are numbers") from exc
    if not math.isfinite(inactivity) or not 1 <= inactivity <= 180:
        raise ElevenLabsError("invalid_query", "inactivity_timeout must be 1..180 seconds")
    normalization = query.get("apply_text_normalization", "auto").lower()
    if normalization not in ("auto", "on", "off"):
        raise ElevenLabsError("invalid_query", "apply_text_normalization is auto, on or off")
    return Query(
        output, inactivity, query.get("language_code") or None,
        "off" if normalization == "off" else "on", seed,
    )  # fmt: skip


class Context:
    """One ElevenLabs stream (the whole socket in stream-input, one context in multi)."""

    def __init__(self, owner: ElevenLabsSession, context_id: str | None) -> None:
        self.owner = owner
        self.id = context_id  # None: stream-input (no contextId in replies)
        self.stream: SpeechStream | None = None
        self.encoder: ContainerEncoder | None = None
        self._held: bytes | None = None  # the latest audio of the sentence being sent
        self._text = ""

    def _reply(self, body: dict[str, Any]) -> dict[str, Any]:
        return body if self.id is None else body | {"contextId": self.id}

    async def _send_audio(self, audio: bytes | None, align: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {
            "audio": base64.b64encode(audio).decode("ascii") if audio else None,
            "isFinal": None,
        }
        if align is not None:
            body |= align
        await self.owner.sock.send_json(self._reply(body))

    async def _release_held(self) -> None:
        held, self._held = self._held, None
        if held:
            await self._send_audio(held)

    async def deliver(self, pcm: bytes) -> None:
        """Hold audio for one turn of the event loop, so that pieces of a sentence
        delivered together (a whole rendered sentence and its resampler tail) leave
        as one message and, when they end the sentence, carry its alignment."""
        assert self.encoder is not None
        encoded = await self.owner.encode(self.encoder, pcm)
        if not encoded:
            return
        if self._held is None:
            asyncio.get_running_loop().call_soon(self._release_soon)
        self._held = (self._held or b"") + encoded

    def _release_soon(self) -> None:
        if self._held is not None:
            self.owner.spawn(self._release_held())

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "sentence":
            self._text = str(event.get("text", ""))
        elif kind == "sentence_end" and self.stream is not None:
            r = self.stream.resolved
            setting = self.stream.pipeline.normalize
            ms = float(event.get("audio_ms", 0))
            align = {
                "alignment": alignment(self._text, ms, r.language, r.locale, setting),
                "normalizedAlignment": normalized_alignment(
                    self._text, ms, r.language, r.locale, setting
                ),
            }
            held, self._held = self._held, None
            await self._send_audio(held, align)
        elif kind == "error":
            log.warning("elevenlabs sentence failed: %s", event.get("message"))

    async def finish(self, *, drop: bool = False) -> None:
        """End this stream: its remaining audio (unless `drop`), then `isFinal: true`."""
        if self.stream is not None:
            if drop:
                await self.stream.clear()
            else:
                await self.stream.finish()
            await self._release_held()
            if self.encoder is not None and (tail := await self.owner.encode(self.encoder, None)):
                await self._send_audio(tail)
        await self.owner.sock.send_json(self._reply({"isFinal": True}))

    async def aclose(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()


class ElevenLabsSession:
    """One socket: messages in, contexts' audio out."""

    def __init__(self, gw: Gateway, sock: DialectSocket, voice_id: str, query: Query,
                 admission: Admission, *, multi: bool) -> None:  # fmt: skip
        self.gw, self.sock, self.voice_id, self.query = gw, sock, voice_id, query
        self.admission = admission
        self.multi = multi
        self.contexts: dict[str, Context] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, job: Any) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def encode(self, encoder: ContainerEncoder, pcm: bytes | None) -> bytes:
        offload = self.query.output.mp3_bit_rate is not None  # a codec: off the event loop
        if pcm is None:
            return await asyncio.to_thread(encoder.finish) if offload else encoder.finish()
        return await asyncio.to_thread(encoder.feed, pcm) if offload else encoder.feed(pcm)

    def _authorize(self, msg: dict[str, Any]) -> None:
        if self.admission.admitted:
            return
        key = msg.get("xi_api_key")
        bearer = msg.get("authorization")
        if key is None and isinstance(bearer, str) and bearer.lower().startswith("bearer "):
            key = bearer[7:].strip()
        tenant = tenant_for_key(key if isinstance(key, str) else None, self.gw.settings)
        if tenant is None:
            raise ElevenLabsError("invalid_api_key", "Invalid API key")
        self.admission.tenant = tenant
        if (refused := self.admission.admit()) is not None:
            raise ElevenLabsError(refused, refused.replace("_", " "))

    async def _open(self, context_id: str, msg: dict[str, Any]) -> Context:
        if len(self.contexts) >= MAX_CONTEXTS:
            raise ElevenLabsError(
                "max_contexts", f"at most {MAX_CONTEXTS} contexts may be open on one socket"
            )
        settings = msg.get("voice_settings") or {}
        speed = settings.get("speed", 1.0) if isinstance(settings, dict) else 1.0
        if isinstance(speed, bool) or not isinstance(speed, int | float):
            raise ElevenLabsError("invalid_voice_settings", "voice_settings.speed is a number")
        try:
            resolved = await resolve_vendor_voice(
                self.gw, self.voice_id, self.query.language, float(speed)
            )
        except StreamError as exc:
            raise ElevenLabsError(exc.code, exc.message) from exc
        ctx = Context(self, context_id if self.multi else None)
        out = self.query.output
        extra = {"seed": self.query.seed} if self.query.seed is not None else None
        ctx.stream = SpeechStream(
            self.gw, resolved, out.fmt, deliver=ctx.deliver, emit=ctx.on_event,
            tenant=self.admission.tenant, normalize=self.query.normalize, extra=extra,
            log_extra={"session": self.admission.id, "dialect": "elevenlabs"},
        )  # fmt: skip
        ctx.encoder = (
            make_container_encoder("mp3", out.fmt.sample_rate, bit_rate=out.mp3_bit_rate)
            if out.mp3_bit_rate
            else make_container_encoder("pcm", out.fmt.sample_rate)
        )
        self.admission.streams.append(ctx.stream)
        self.contexts[context_id] = ctx
        return ctx

    async def handle(self, raw: str | bytes) -> bool:
        """One client message; False when the socket is done."""
        if isinstance(raw, bytes):
            raise ElevenLabsError("invalid_message", "send JSON text messages, not binary")
        if len(raw) > self.sock.max_message_bytes:
            raise ElevenLabsError("message_too_large", "the message is too large")
        try:
            msg = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ElevenLabsError("invalid_message", "the message is not valid JSON") from exc
        if not isinstance(msg, dict):
            raise ElevenLabsError("invalid_message", "a message is a JSON object")
        self._authorize(msg)
        if self.multi and msg.get("close_socket") is True:
            await self._finish_all()
            return False
        context_id = msg.get("context_id", msg.get("contextId")) if self.multi else None
        context_id = DEFAULT_CONTEXT if context_id is None else context_id
        if not isinstance(context_id, str) or not 0 < len(context_id) <= 128:
            raise ElevenLabsError("invalid_message", "context_id is a string of 1-128 characters")
        ctx = self.contexts.get(context_id)
        if self.multi and msg.get("close_context") is True:
            if ctx is not None:
                del self.contexts[context_id]
                await ctx.finish(drop=True)
                self.admission.streams.remove(ctx.stream)  # type: ignore[arg-type]
                await ctx.aclose()
            return True
        text = msg.get("text")
        if text is not None and not isinstance(text, str):
            raise ElevenLabsError("invalid_message", "text is a string")
        if ctx is None:
            ctx = await self._open(context_id, msg)
            if text in (" ", "", None):
                return True  # the initialising message
        assert ctx.stream is not None
        if text == "":
            if self.multi:
                return True  # keep-alive
            await ctx.finish()
            return False
        try:
            if text:
                await ctx.stream.push(text)
            if msg.get("flush") is True:
                await ctx.stream.flush()
        except StreamError as exc:
            raise ElevenLabsError(exc.code, exc.message) from exc
        return True

    async def _finish_all(self) -> None:
        for ctx in list(self.contexts.values()):
            await ctx.finish()

    async def aclose(self) -> None:
        for ctx in self.contexts.values():
            await ctx.aclose()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _endpoint(ws: WebSocket, *, multi: bool) -> None:
    gw: Gateway = ws.app.state.gateway
    sock = DialectSocket(ws, idle_s=20.0, max_message_bytes=gw.settings.max_message_bytes)
    detail = lambda status, message: {"detail": {"status": status, "message": message}}  # noqa: E731
    if not origin_allowed(ws, gw.settings):
        await sock.deny(403, detail("forbidden_origin", "this origin may not use the gateway"))
        return
    header_key = ws.headers.get("xi-api-key")
    tenant = tenant_for_key(header_key, gw.settings)  # the open tenant on an open gateway
    if header_key is not None and tenant is None:
        await sock.deny(401, detail("invalid_api_key", "Invalid API key"))
        return
    try:
        query = parse_query(dict(ws.query_params))
    except ElevenLabsError as exc:
        await sock.deny(400, detail(exc.code, exc.message))
        return

    async def on_shutdown() -> None:
        await sock.try_send_json({"message": "server shutting down", "error": "shutting_down"})
        await sock.close(1001, "server shutting down")

    admission = Admission(gw, tenant or "", on_shutdown=on_shutdown)
    if tenant is not None:  # else the key comes in the first message (`_authorize`)
        if (refused := admission.admit()) is not None:
            await sock.deny(429, detail(refused, refused.replace("_", " ")))
            return
    sock.idle_s = query.inactivity_s
    session = ElevenLabsSession(gw, sock, ws.path_params["voice_id"], query, admission, multi=multi)
    await ws.accept()
    try:
        while True:
            try:
                raw = await sock.receive(*(c.stream.failed for c in session.contexts.values()
                                           if c.stream is not None))  # fmt: skip
            except Stopped:
                await sock.close(1011, "client is not reading audio")
                return
            except TimeoutError:
                await sock.try_send_json({"message": "inactivity timeout", "error": "timeout"})
                await sock.close(1000, "inactivity timeout")
                return
            if raw is None:
                return
            try:
                if not await session.handle(raw):
                    await sock.close(1000)
                    return
            except ElevenLabsError as exc:
                log.info("elevenlabs client error %s: %s", exc.code, exc.message)
                await sock.try_send_json({"message": exc.message, "error": exc.code, "code": 1008})
                await sock.close(1008, exc.message)
                return
    except SocketGone:
        pass
    finally:
        await session.aclose()
        admission.leave()
        await sock.close(1000)


async def stream_input(ws: WebSocket) -> None:
    await _endpoint(ws, multi=False)


async def multi_stream_input(ws: WebSocket) -> None:
    await _endpoint(ws, multi=True)


def routes() -> list[BaseRoute]:
    base = "/elevenlabs/v1/text-to-speech/{voice_id}"
    return [
        WebSocketRoute(f"{base}/stream-input", stream_input),
        WebSocketRoute(f"{base}/multi-stream-input", multi_stream_input),
    ]
