"""OpenAI's speech API: `POST /v1/audio/speech` and `GET /v1/models` (also under `/openai`).

What clients send (openai-python's `speech_create_params`): `model`, `input`
(at most 4096 characters), `voice` (a name, or `{"id": ...}`),
`response_format`, `speed` (0.25-4.0), `instructions`, `stream_format`
(`audio` or `sse`). voxgate adds `language`, `normalize` (SPEC §8) and the
telephony formats `ulaw` / `alaw` (8 kHz G.711, raw).

The answer streams: the input goes through the same segmenter and pipeline as
`/v1/speak` (`SpeechStream`), and each sentence's audio is written the moment
it renders, so the first bytes leave when the first sentence has rendered,
not the whole input. The response starts only once the first audio exists, so
an engine that fails on the first sentence still gets a proper error status;
a failure later can only end the stream (or, with SSE, send an error event).
`pcm` is 16-bit little-endian mono at 24 kHz, as OpenAI defines it, and so is
every container's audio.

Errors use OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from telephony.containers import CONTAINERS, container_available, make_container_encoder
from telephony.media import MediaFormat
from telephony.stream_format import StreamFormat
from tts_core.normalize import NormalizeSettingError, parse_setting, setting_text

from ..auth import origin_allowed
from .keys import authorization_key, tenant_for_key
from .stream import Admission, SpeechStream, StreamError, resolve_vendor_voice

if TYPE_CHECKING:
    from ..state import Gateway

log = logging.getLogger(__name__)

MODELS = ("gpt-4o-mini-tts", "tts-1", "tts-1-hd", "voxgate")
RESPONSE_FORMATS = (*CONTAINERS, "ulaw", "alaw")
STREAM_FORMATS = ("audio", "sse")
MAX_INPUT_CHARS = 4096
MAX_BODY_BYTES = 24 * 1024 * 1024  # room for a base64 reference recording (ref_audio)
OPENAI_RATE = 24000
QUEUE_CHUNKS = 32  # encoded chunks waiting for a slow reader before synthesis waits
CODEC_SLICE_S = 0.2  # seconds of audio per codec call
CODEC_FRAME_SAMPLES = 1920  # usage.output_tokens counts 80 ms frames of 24 kHz audio

_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}
_CODE_STATUS = {
    "invalid_setting": 400,
    "text_limit": 400,
    "queue_full": 429,
    "over_capacity": 503,
    "tenant_over_capacity": 429,
    "engine_unavailable": 503,
    "internal_error": 500,
}


class OpenAIError(Exception):
    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": _STATUS_TYPES.get(self.status, "invalid_request_error"),
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def _from_stream_error(exc: StreamError) -> OpenAIError:
    status = _CODE_STATUS.get(exc.code, 500 if exc.code.startswith("engine") else 400)
    param = {"voice": "voice", "language": "language", "speed": "speed"}.get(exc.field or "")
    return OpenAIError(status, exc.message, param=param, code=exc.code)


@dataclass(frozen=True)
class SpeechRequest:
    model: str
    input: str
    voice: str | None
    response_format: str = "mp3"
    speed: float = 1.0
    instructions: str | None = None
    stream_format: str = "audio"
    language: str | None = None
    normalize: str = "on"
    ref_audio: bytes | None = None  # a one-shot clone (vLLM-Omni's and the seed's fields)
    ref_text: str | None = None


def _bad(message: str, param: str, code: str = "invalid_value") -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)


def _string(body: dict[str, Any], name: str, *, limit: int = 256) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _bad(f"'{name}' must be a string of at most {limit} characters", name)
    return value


def parse_request(raw: bytes) -> SpeechRequest:
    """Validate a request body (pure: no I/O); raises `OpenAIError` naming the field."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise OpenAIError(400, "the request body is not valid JSON", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise OpenAIError(400, "the request body must be a JSON object", code="invalid_json")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required", "model", "missing_required_parameter")
    if model not in MODELS:
        raise OpenAIError(
            400, f"model {model[:64]!r} does not exist; use one of {', '.join(MODELS)}",
            param="model", code="model_not_found",
        )  # fmt: skip
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise _bad("'input' must be a non-empty string", "input", "missing_required_parameter")
    if len(text) > MAX_INPUT_CHARS:
        raise _bad(
            f"'input' is {len(text)} characters; at most {MAX_INPUT_CHARS} are allowed",
            "input", "string_above_max_length",
        )  # fmt: skip
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _bad("'input' is not valid Unicode", "input") from exc
    voice = body.get("voice")
    if isinstance(voice, dict):
        voice = voice.get("id")
    if voice is not None and (not isinstance(voice, str) or not voice or len(voice) > 128):
        raise _bad("'voice' must be a voice name or {\"id\": ...}", "voice")
    fmt = body.get("response_format") or "mp3"
    if fmt not in RESPONSE_FORMATS:
        raise _bad(
            f"response_format {str(fmt)[:32]!r} is not supported; use one of "
            f"{', '.join(RESPONSE_FORMATS)}", "response_format",
        )  # fmt: skip
    speed = body.get("speed", 1.0)
    if speed is None:
        speed = 1.0
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed):
        raise _bad("'speed' must be a number", "speed")
    if not 0.25 <= speed <= 4.0:
        raise _bad("'speed' must be between 0.25 and 4.0", "speed")
    stream_format = body.get("stream_format") or "audio"
    if stream_format not in STREAM_FORMATS:
        raise _bad("'stream_format' must be audio or sse", "stream_format")
    normalize = body.get("normalize", "on")
    try:
        normalize = setting_text(parse_setting(normalize))
    except NormalizeSettingError as exc:
        raise _bad(str(exc), "normalize") from exc
    ref_audio = body.get("ref_audio")
    if ref_audio is not None:
        if not isinstance(ref_audio, str):
            raise _bad("'ref_audio' must be base64 audio or a data: URL", "ref_audio")
        if ref_audio.startswith("data:") and "," in ref_audio:
            ref_audio = ref_audio.split(",", 1)[1]
        try:
            ref_audio = base64.b64decode(ref_audio, validate=True)
        except ValueError as exc:
            raise _bad("'ref_audio' is not valid base64", "ref_audio") from exc
    return SpeechRequest(
        ref_audio=ref_audio, ref_text=_string(body, "ref_text", limit=2000),
        model=model, input=text, voice=voice, response_format=fmt, speed=float(speed),
        instructions=_string(body, "instructions", limit=4096), stream_format=stream_format,
        language=_string(body, "language", limit=64), normalize=normalize,
    )  # fmt: skip


async def _clone(gw: Gateway, audio: bytes, transcript: str | None) -> str:
    """The voice id for a one-shot clone: registered once, by the reference's content."""
    from ..voices import VoiceRequestError, register

    try:
        voice, _ = await register(gw, audio, transcript, None)
    except VoiceRequestError as exc:
        raise OpenAIError(exc.status, exc.message, param="ref_audio", code=exc.code) from exc
    return str(voice["id"])


def wire_format(response_format: str) -> MediaFormat:
    """What the pipeline frames: G.711 at 8 kHz for ulaw/alaw, else 24 kHz PCM."""
    if response_format in ("ulaw", "alaw"):
        return MediaFormat("mulaw" if response_format == "ulaw" else "alaw", 8000, 20)
    return StreamFormat("pcm16", OPENAI_RATE, 20)


def media_type(response_format: str, stream_format: str) -> str:
    if stream_format == "sse":
        return "text/event-stream"
    if response_format in ("ulaw", "alaw"):
        return "audio/basic" if response_format == "ulaw" else "audio/x-alaw-basic"
    return CONTAINERS[response_format].media_type


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise OpenAIError(413, f"the request body exceeds {limit} bytes", code="body_too_large")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise OpenAIError(413, f"the request body exceeds {limit} bytes", code="body_too_large")
    return bytes(body)


def _authorize(request: Request, gw: Gateway) -> str:
    if not origin_allowed(request, gw.settings):
        raise OpenAIError(403, "this origin may not use the gateway", code="forbidden_origin")
    tenant = tenant_for_key(authorization_key(request), gw.settings)
    if tenant is None:
        raise OpenAIError(401, "Incorrect API key provided.", code="invalid_api_key")
    return tenant


async def models(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    try:
        _authorize(request, gw)
    except OpenAIError as exc:
        return exc.response()
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "voxgate"} for m in MODELS]
    return JSONResponse({"object": "list", "data": data})


async def speech(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    try:
        tenant = _authorize(request, gw)
        req = parse_request(await _read_body(request, MAX_BODY_BYTES))
        problem = (
            None
            if req.response_format in ("ulaw", "alaw")
            else container_available(req.response_format)
        )
        if problem is not None:
            supported = [f for f in RESPONSE_FORMATS if f in ("ulaw", "alaw") or
                         container_available(f) is None]  # fmt: skip
            raise _bad(f"{problem}; supported here: {', '.join(supported)}", "response_format")
        voice = req.voice
        if req.ref_audio is not None:
            voice = await _clone(gw, req.ref_audio, req.ref_text)
        resolved = await resolve_vendor_voice(gw, voice, req.language, req.speed)
    except OpenAIError as exc:
        return exc.response()
    except StreamError as exc:
        return _from_stream_error(exc).response()
    admission = Admission(gw, tenant)
    if (refused := admission.admit()) is not None:
        message = "server is at capacity" if refused == "over_capacity" else (
            "this API key has too many sessions open")  # fmt: skip
        return _from_stream_error(StreamError(refused, message)).response()
    try:
        return await _answer(gw, req, resolved, tenant, admission)
    except BaseException:
        admission.leave()
        raise


async def _answer(gw: Gateway, req: SpeechRequest, resolved: Any, tenant: str,
                  admission: Admission) -> Response:  # fmt: skip
    """Start synthesis; respond once the first audio (or the first error) exists."""
    wire = wire_format(req.response_format)
    raw = req.response_format in ("ulaw", "alaw")
    encoder = make_container_encoder("pcm" if raw else req.response_format, wire.sample_rate)
    # A codec costs milliseconds per second of audio: never on the event loop.
    offload = CONTAINERS.get(req.response_format, CONTAINERS["pcm"]).codec is not None
    out: asyncio.Queue[bytes | StreamError | None] = asyncio.Queue(QUEUE_CHUNKS)
    samples = 0

    async def encode(pcm: bytes | None) -> bytes:
        if pcm is None:
            return await asyncio.to_thread(encoder.finish) if offload else encoder.finish()
        return await asyncio.to_thread(encoder.feed, pcm) if offload else encoder.feed(pcm)

    # A codec is fed a sentence in slices, so its first bytes leave after the first slice
    # is encoded rather than the whole sentence (LAME takes ~15 ms per second of audio).
    piece = int(CODEC_SLICE_S * wire.sample_rate) * wire.bytes_per_sample if offload else 1 << 30

    async def deliver(pcm: bytes) -> None:
        nonlocal samples
        samples += len(pcm) // wire.bytes_per_sample
        for at in range(0, len(pcm), piece):
            if encoded := await encode(pcm[at : at + piece]):
                await out.put(encoded)

    async def on_event(event: dict[str, Any]) -> None:
        if event.get("type") == "error":
            await out.put(StreamError(str(event.get("code")), str(event.get("message"))))

    extra = {"instruct": req.instructions} if req.instructions else None
    log_extra = {"session": admission.id, "tenant": tenant, "dialect": "openai"}
    stream = SpeechStream(
        gw, resolved, wire, deliver=deliver, emit=on_event, tenant=tenant,
        normalize=req.normalize, extra=extra, log_extra=log_extra,
    )  # fmt: skip
    admission.streams.append(stream)

    async def produce() -> None:
        try:
            await stream.feed(req.input)
            await stream.finish()
            if tail := await encode(None):
                await out.put(tail)
        except StreamError as exc:
            await out.put(exc)
        except Exception:  # never leave the response waiting on a producer that died
            log.exception("openai speech failed", extra=log_extra)
            await out.put(StreamError("internal_error", "internal error"))
        await out.put(None)

    producer = asyncio.create_task(produce(), name="voxgate-openai-feed")

    async def cleanup() -> None:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer
        await stream.aclose()
        admission.leave()

    first = await out.get()
    if isinstance(first, StreamError):
        await cleanup()
        return _from_stream_error(first).response()
    log.info("openai speech", extra=log_extra | {"format": req.response_format})

    async def body() -> AsyncIterator[bytes]:
        item: bytes | StreamError | None = first
        try:
            while item is not None:
                if isinstance(item, StreamError):
                    log.warning("openai speech ended early: %s", item.message, extra=log_extra)
                    if req.stream_format == "sse":
                        yield _sse(_from_stream_error(item).body() | {"type": "error"})
                    return
                yield _sse({"type": "speech.audio.delta", "audio": _b64(item)}) if (
                    req.stream_format == "sse") else item  # fmt: skip
                item = await out.get()
            if req.stream_format == "sse":
                frames = math.ceil(samples * OPENAI_RATE / wire.sample_rate / CODEC_FRAME_SAMPLES)
                usage = {"input_tokens": len(req.input), "output_tokens": frames,
                         "total_tokens": len(req.input) + frames}  # fmt: skip
                yield _sse({"type": "speech.audio.done", "usage": usage})
        finally:
            await cleanup()

    headers = {"X-Voxgate-Voice": resolved.voice, "Cache-Control": "no-store"}
    return StreamingResponse(
        body(), media_type=media_type(req.response_format, req.stream_format), headers=headers
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def routes() -> list[BaseRoute]:
    return [
        Route(f"{prefix}/v1/audio/speech", speech, methods=["POST"]) for prefix in ("", "/openai")
    ] + [Route(f"{prefix}/v1/models", models, methods=["GET"]) for prefix in ("", "/openai")]
