"""Deepgram's Aura speak WebSocket: `/deepgram/v1/speak` (docs: speak-streaming, tts-encoding).

Query: `model` (an Aura model name; one that names a voxgate voice is used,
any other means the default voice), `encoding` (`linear16` default, `mulaw`,
`alaw`), `sample_rate` (linear16: 8000-48000, default 24000; G.711: 8000),
`speed`, and voxgate's `language` / `normalize`. Auth: `Authorization: Token
<key>` (or Bearer), or the `token, <key>` subprotocol pair browsers use.

Client messages: `Speak {text}` (appended to the segmenter: complete
sentences render as they close), `Flush` (speak the rest now; answered by
`Flushed {sequence_id}` once its audio is out), `Clear` (barge-in: drop text
and queued audio; `Cleared {sequence_id}`), `Close` (speak the rest, then
close 1000). Server: `Metadata` on connect, binary audio, `Warning
{description, code}` for a message it ignores (bad JSON, unknown type, too
much text queued); the connection stays up. Refusals before the upgrade (bad
key, bad query) are HTTP answers with Deepgram's `{err_code, err_msg,
request_id}` body, which the SDK raises as an `ApiError`.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from telephony.media import MediaFormat
from telephony.stream_format import STREAM_RATES, StreamFormat
from tts_core.normalize import NormalizeSettingError, parse_setting, setting_text

from ..auth import origin_allowed
from .keys import authorization_key, deepgram_subprotocol_key, tenant_for_key
from .socket import DialectSocket, SocketGone, Stopped
from .stream import Admission, SpeechStream, StreamError, resolve_vendor_voice

if TYPE_CHECKING:
    from ..state import Gateway

log = logging.getLogger(__name__)

DEFAULT_MODEL = "aura-2-thalia-en"
ENCODINGS = {"linear16": "pcm16", "mulaw": "mulaw", "alaw": "alaw"}


@dataclass(frozen=True)
class SpeakQuery:
    model: str
    fmt: MediaFormat
    speed: float = 1.0
    language: str | None = None
    normalize: str = "on"


class QueryError(Exception):
    pass


def parse_query(query: dict[str, str]) -> SpeakQuery:
    """The connection's settings from its query string (pure)."""
    encoding = query.get("encoding", "linear16").lower()
    if encoding not in ENCODINGS:
        raise QueryError(f"encoding must be one of {', '.join(ENCODINGS)}")
    default_rate = "24000" if encoding == "linear16" else "8000"
    try:
        rate = int(query.get("sample_rate", default_rate))
        speed = float(query.get("speed", "1.0"))
    except ValueError as exc:
        raise QueryError("sample_rate must be an integer and speed a number") from exc
    wire = ENCODINGS[encoding]
    rates = STREAM_RATES if wire == "pcm16" else (8000,)
    if rate not in rates:
        raise QueryError(f"{encoding} is offered at {', '.join(map(str, rates))} Hz, not {rate}")
    if not math.isfinite(speed) or not 0.25 <= speed <= 4.0:
        raise QueryError("speed must be between 0.25 and 4.0")
    try:
        normalize = setting_text(parse_setting(query.get("normalize", "on")))
    except NormalizeSettingError as exc:
        raise QueryError(str(exc)) from exc
    container = query.get("container", "none").lower()
    if container not in ("none", "raw"):
        raise QueryError("the speak WebSocket streams raw audio: container must be none")
    model = query.get("model") or DEFAULT_MODEL
    if len(model) > 128:
        raise QueryError("model is too long")
    return SpeakQuery(
        model=model, fmt=StreamFormat(wire, rate, 20), speed=speed,
        language=query.get("language") or None, normalize=normalize,
    )  # fmt: skip


def _error_body(code: str, message: str, request_id: str) -> dict[str, Any]:
    return {"err_code": code, "err_msg": message, "request_id": request_id}


class DeepgramSession:
    """One speak connection: Deepgram's messages over a `SpeechStream`."""

    def __init__(self, sock: DialectSocket, request_id: str) -> None:
        self.sock = sock
        self.request_id = request_id
        self.stream: SpeechStream | None = None
        self.flushes = 0  # sequence ids given out so far
        self._flushing: deque[int] = deque()

    async def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "flushed" and self._flushing:
            await self.sock.try_send_json(
                {"type": "Flushed", "sequence_id": self._flushing.popleft()}
            )
        elif kind == "error":
            await self.warn(str(event.get("code")), str(event.get("message")))

    async def warn(self, code: str, description: str) -> None:
        await self.sock.try_send_json({"type": "Warning", "code": code, "description": description})

    async def handle(self, raw: str | bytes) -> bool:
        """One client message; False once the client asked to close."""
        assert self.stream is not None
        if isinstance(raw, bytes):
            await self.warn("BINARY_NOT_ALLOWED", "send JSON text messages, not binary")
            return True
        if len(raw) > self.sock.max_message_bytes:
            await self.warn(
                "MESSAGE_TOO_LARGE",
                f"messages are limited to {self.sock.max_message_bytes} characters",
            )
            return True
        try:
            msg = json.loads(raw)
        except (ValueError, RecursionError):
            await self.warn("INVALID_JSON", "the message is not valid JSON")
            return True
        kind = msg.get("type") if isinstance(msg, dict) else None
        try:
            if kind == "Speak":
                text = msg.get("text")
                if not isinstance(text, str):
                    await self.warn("INVALID_MESSAGE", "Speak needs a string text")
                else:
                    await self.stream.push(text)
            elif kind == "Flush":
                await self.stream.flush()
                self._flushing.append(self.flushes)
                self.flushes += 1
            elif kind == "Clear":
                await self.stream.clear()
                self._flushing.clear()
                await self.sock.try_send_json({"type": "Cleared", "sequence_id": self.flushes})
            elif kind == "Close":
                return False
            else:
                await self.warn(
                    "UNKNOWN_MESSAGE_TYPE",
                    f"unknown message type {str(kind)[:40]!r}; use Speak, Flush, Clear or Close",
                )
        except StreamError as exc:
            await self.warn(exc.code.upper(), exc.message)
        return True


async def speak(ws: WebSocket) -> None:
    gw: Gateway = ws.app.state.gateway
    sock = DialectSocket(
        ws, idle_s=gw.settings.session_idle_s, max_message_bytes=gw.settings.max_message_bytes
    )
    request_id = str(uuid.uuid4())
    if not origin_allowed(ws, gw.settings):
        await sock.deny(
            403, _error_body("FORBIDDEN", "this origin may not use the gateway", request_id)
        )
        return
    proto_key = deepgram_subprotocol_key(ws)
    tenant = tenant_for_key(proto_key or authorization_key(ws), gw.settings)
    if tenant is None:
        await sock.deny(401, _error_body("INVALID_AUTH", "Invalid credentials.", request_id))
        return
    try:
        query = parse_query(dict(ws.query_params))
        resolved = await resolve_vendor_voice(gw, query.model, query.language, query.speed)
    except QueryError as exc:
        await sock.deny(400, _error_body("INVALID_QUERY_PARAMETER", str(exc), request_id))
        return
    except StreamError as exc:
        status = 503 if exc.code == "engine_unavailable" else 400
        await sock.deny(status, _error_body(exc.code.upper(), exc.message, request_id))
        return
    session = DeepgramSession(sock, request_id)

    async def on_shutdown() -> None:
        await sock.close(1001, "server shutting down")

    admission = Admission(gw, tenant, on_shutdown=on_shutdown)
    if (refused := admission.admit()) is not None:
        await sock.deny(
            429, _error_body("TOO_MANY_REQUESTS", refused.replace("_", " "), request_id)
        )
        return
    log_extra = {"session": admission.id, "tenant": tenant, "dialect": "deepgram"}
    try:
        await ws.accept(subprotocol="token" if proto_key else None)
        stream = session.stream = SpeechStream(
            gw, resolved, query.fmt, deliver=sock.send_bytes, emit=session.on_event,
            tenant=tenant, normalize=query.normalize, log_extra=log_extra,
        )  # fmt: skip
        admission.streams.append(stream)
        await sock.send_json({
            "type": "Metadata", "request_id": request_id, "model_name": query.model,
            "model_version": f"voxgate-{gw.core.engine.name}", "model_uuid": request_id,
            "voice": resolved.voice,
        })  # fmt: skip
        log.info("deepgram speak ready", extra=log_extra)
        await _serve(session, stream, sock)
    except SocketGone:
        pass
    finally:
        if session.stream is not None:
            await session.stream.aclose()
        admission.leave()
        await sock.close(1000)


async def _serve(session: DeepgramSession, stream: SpeechStream, sock: DialectSocket) -> None:
    while True:
        try:
            raw = await sock.receive(stream.failed)
        except Stopped:
            await sock.close(1011, "client is not reading audio")
            return
        except TimeoutError:
            await session.warn("IDLE_TIMEOUT", "no message received; closing")
            await sock.close(1000, "idle")
            return
        if raw is None:
            return
        if not await session.handle(raw):
            await stream.finish()
            await sock.close(1000, "closed")
            return


def routes() -> list[BaseRoute]:
    return [WebSocketRoute("/deepgram/v1/speak", speak)]
