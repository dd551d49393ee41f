"""Cloned voices over HTTP: `POST /v1/voices` registers one, `DELETE /v1/voices/{id}` removes it.

A voice is made from reference audio (WAV, FLAC, Ogg or MP3, 1-30 s; 3-20 s
works best) and, optionally, its transcript: with one, the Base model clones
in ICL mode (it continues the reference), without, from the speaker
embedding alone. The body is `multipart/form-data` (`audio` or `file`, plus
`transcript` / `ref_text` and `name` fields) or JSON (`{"audio": base64 or a
data: URL, "transcript", "name"}`). The answer is the voice: its `id` works
as `voice` in `/v1/speak`, `POST /v1/audio/speech`, the ElevenLabs voice id
in the URL and the Deepgram `model`. `GET /v1/voices` lists it with the
engine's other voices.

Registering the same reference again returns the same voice (200 instead of
201) without running the model: voices are known by the content hash of the
reference. Decoding and validation run off the event loop; the model's part
(`create_voice_clone_prompt`) runs on the speech core's inference thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tts_core import EngineError, EngineUnavailable, InvalidRequest
from tts_core.reference_audio import MAX_BYTES, decode_reference

from .auth import refusal

if TYPE_CHECKING:
    from .state import Gateway

log = logging.getLogger(__name__)

MAX_TRANSCRIPT_CHARS = 2000


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


class VoiceRequestError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _text(value: Any, name: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise VoiceRequestError(400, "invalid_field", f"{name} must be text of at most {limit}")
    return value.strip() or None


async def _read_json(request: Request) -> tuple[bytes, str | None, str | None]:
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > MAX_BYTES * 4 // 3 + 65536:
            raise VoiceRequestError(413, "too_large", "the request body is too large")
    try:
        fields = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise VoiceRequestError(400, "malformed_json", "the body is not valid JSON") from exc
    if not isinstance(fields, dict) or not isinstance(fields.get("audio"), str):
        raise VoiceRequestError(400, "invalid_field", "audio must be base64 text")
    encoded = fields["audio"]
    if encoded.startswith("data:") and "," in encoded:
        encoded = encoded.split(",", 1)[1]
    try:
        audio = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VoiceRequestError(400, "invalid_field", "audio is not valid base64") from exc
    transcript = fields.get("transcript", fields.get("ref_text"))
    return audio, transcript, fields.get("name")


async def _read_form(request: Request) -> tuple[bytes, str | None, str | None]:
    try:
        form = await request.form(max_files=1, max_fields=8, max_part_size=MAX_BYTES)
    except Exception as exc:  # malformed multipart, a part over the limit
        raise VoiceRequestError(
            400, "malformed_form", f"the form could not be read: {exc}"
        ) from exc
    upload = form.get("audio") or form.get("file")
    if not isinstance(upload, UploadFile):
        raise VoiceRequestError(400, "invalid_field", "send the reference audio as the audio file")
    audio = await upload.read(MAX_BYTES + 1)
    return audio, form.get("transcript", form.get("ref_text")), form.get("name")  # type: ignore[return-value]


async def register(gw: Gateway, audio: bytes, transcript: str | None,
                   name: str | None) -> tuple[dict[str, Any], bool]:  # fmt: skip
    """Decode, validate and register a voice; (its description, whether it is new).
    Raises `VoiceRequestError`. Also used by the OpenAI dialect's one-shot clone."""
    transcript = _text(transcript, "transcript", MAX_TRANSCRIPT_CHARS)
    name = _text(name, "name", 128)
    engine = gw.core.engine
    clone = getattr(engine, "clone_voice", None)
    if clone is None:
        raise VoiceRequestError(
            400, "cloning_unsupported",
            f"the {engine.name} engine cannot clone voices; run the qwen engine with a "
            "Qwen3-TTS Base checkpoint",
        )  # fmt: skip
    try:
        ref = await asyncio.to_thread(decode_reference, audio)
        voice, new = await gw.core.call(lambda: clone(ref.wav, ref.sample_rate, transcript, name))
    except InvalidRequest as exc:
        raise VoiceRequestError(400, "invalid_audio" if exc.field == "audio" else "invalid_request",
                                str(exc)) from exc  # fmt: skip
    except EngineUnavailable as exc:
        log.error("engine unavailable: %s", exc)
        raise VoiceRequestError(
            503, "engine_unavailable", "the speech engine is not available"
        ) from exc
    except EngineError as exc:
        raise VoiceRequestError(422, "clone_failed", str(exc)) from exc
    body = asdict(voice) | {"mode": voice.mode}
    body.pop("digest", None)
    return body, new


async def create_voice(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    if (refused := refusal(request, gw.settings)) is not None:
        return refused
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "multipart/form-data":
            audio, transcript, name = await _read_form(request)
        elif kind in ("application/json", ""):
            audio, transcript, name = await _read_json(request)
        else:
            raise VoiceRequestError(
                415, "unsupported_media_type", "send multipart/form-data or JSON"
            )
        body, new = await register(gw, audio, transcript, name)
    except VoiceRequestError as exc:
        return _error(exc.status, exc.code, exc.message)
    log.info("voice registered", extra={"voice": body["id"], "new": new})
    return JSONResponse(body, status_code=201 if new else 200)


async def delete_voice(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    if (refused := refusal(request, gw.settings)) is not None:
        return refused
    delete = getattr(gw.core.engine, "delete_voice", None)
    voice_id = request.path_params["voice_id"]
    if delete is None or not delete(voice_id):
        return _error(404, "not_found", f"no cloned voice {voice_id[:64]!r}")
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/voices", create_voice, methods=["POST"]),
        Route("/v1/voices/{voice_id}", delete_voice, methods=["DELETE"]),
    ]
