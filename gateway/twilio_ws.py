"""`/twilio`: the gateway as the far end of a Twilio `<Connect><Stream>`.

Twilio opens this socket when a call reaches the TwiML; the call is registered
under its callSid and streamSid, and under its `session` custom parameter as
an alias, so an application can attach with `/v1/speak?call=<callSid>` or
`/v1/speak?session=<alias>`. Custom parameters `voice`, `language`,
`normalize` and `greeting` configure the call; the greeting is spoken (and
normalized) as soon as the stream starts, before any application attaches. An
application that attaches brings its own settings, `normalize` included.

A socket that sends no `start` within `carrier_start_timeout_s` is closed; a
`start` claiming ids a live call holds is refused (the live call is
untouched); the greeting is cut to `max_greeting_chars` and the sentence
limit like any other text. Whatever happens after registration, the call is
ended in a `finally`, and the socket always gets a close frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketState

from telephony.carriers.twilio import Mark, Start, Stop, TwilioCodec, TwilioProtocolError
from telephony.events import Dtmf
from telephony.legs import CallLeg, SendAhead
from telephony.media import MediaFormat
from tts_core import EngineError, InvalidRequest
from tts_core.normalize import NormalizeSettingError, parse_setting, setting_text

from .auth import origin_allowed, valid_twilio_signature
from .calls import Call, CallIdTaken
from .pipeline import SpeechPipeline
from .protocol import clip
from .segmenter import SentenceSegmenter

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger(__name__)

TWILIO_LEAD_MS = 400  # Twilio buffers: run a little ahead, keep `clear` and marks precise
SEND_TIMEOUT_S = 10.0


class NoStart(Exception):
    """The socket closed or stalled before Twilio's `start` message."""


def cap_text(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a sentence end or a space when possible."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    for marks in (".!?。！？", " "):
        cut = max(head.rfind(m) for m in marks)
        if cut > limit // 2:
            return head[: cut + 1].strip()
    return head


async def greeting_sentences(gw: Gateway, text: str, language: str | None) -> list[str]:
    """The greeting as sentences, bounded like any text a client sends."""
    settings = gw.settings
    capped = cap_text(text, settings.max_greeting_chars)
    segmenter = SentenceSegmenter(
        language or "en", early_first_clause=False, max_sentence_chars=settings.max_sentence_chars
    )
    sentences = await gw.segmentation.run(
        "twilio", capped, lambda: segmenter.push(capped, time.monotonic()) + segmenter.flush()
    )
    limit = settings.max_queued_sentences
    if capped != text or len(sentences) > limit:
        log.warning(
            "greeting cut to %d characters and %d sentences",
            len(capped),
            min(limit, len(sentences)),
        )
    return sentences[:limit]


async def _receive_start(ws: WebSocket, codec: TwilioCodec, gw: Gateway) -> Start:
    """Read until Twilio's `start` (after `connected`), within the configured time."""
    async with asyncio.timeout(gw.settings.carrier_start_timeout_s):
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                raise NoStart("closed before start")
            try:
                if message.get("text") is None:
                    codec.receive_bytes(message.get("bytes") or b"")
                    continue
                event = codec.receive(message["text"])
            except TwilioProtocolError as exc:
                _protocol_error(gw, exc, None)
                continue
            if isinstance(event, Start):
                return event


def _protocol_error(gw: Gateway, exc: TwilioProtocolError, call: Call | None) -> None:
    # Twilio's own rule (31950/31951): report and carry on with the call.
    gw.metrics.errors.labels(code=f"twilio_{exc.code}").inc()
    log.warning(
        "twilio protocol error %s: %s",
        exc.code,
        clip(str(exc)),
        extra={"call": call.id if call else ""},
    )


def new_call(gw: Gateway, ws: WebSocket, start: Start) -> Call:
    params = start.custom_parameters

    async def send_text(text: str) -> None:
        async with asyncio.timeout(SEND_TIMEOUT_S):  # not wait_for: it can swallow a cancel
            await ws.send_text(text)

    async def close() -> None:
        await ws.close(1000)

    wire = TwilioCodec.for_output(MediaFormat("mulaw", 8000, 20), start.stream_sid)
    leg = CallLeg(wire, send_text, pacing=SendAhead(TWILIO_LEAD_MS), close=close)
    normalize = "on"
    if "normalize" in params:
        try:
            normalize = setting_text(parse_setting(params["normalize"]))
        except NormalizeSettingError as exc:
            # No client to tell yet: counted and logged, and the call is read with "on".
            gw.metrics.errors.labels(code="invalid_setting").inc()
            log.warning("twilio call parameter ignored: %s", exc, extra={"call": start.call_sid})
    pipeline = SpeechPipeline(
        gw.core,
        leg,
        voice=params.get("voice"),
        language=params.get("language"),
        normalize=normalize,
        metrics=gw.metrics,
        max_queued=gw.settings.max_queued_sentences,
        max_markers=gw.settings.max_pending_marks,
        carrier_marks=True,
        log_extra={"call": start.call_sid},
    )
    aliases = {params["session"]} if params.get("session") else set()
    call = Call(start.call_sid, "twilio", leg, pipeline, ids={start.stream_sid}, aliases=aliases)
    call.info = {"stream_sid": start.stream_sid, "account_sid": start.account_sid}
    call.output = {
        "format": "twilio",
        "encoding": "mulaw",
        "sample_rate": 8000,
        "frame_ms": leg.fmt.frame_ms,
        "stream_sid": start.stream_sid,
    }
    return call


async def _resolve_voice(gw: Gateway, call: Call) -> None:
    """Apply the call's `voice`/`language` parameters as the engine reads them.

    A bad parameter must not cost the caller the call: it is logged and the
    engine's defaults are spoken instead.
    """
    pipeline = call.pipeline
    try:
        resolved = await gw.core.resolve(pipeline.voice, pipeline.language)
    except InvalidRequest as exc:
        log.warning("twilio call parameter ignored: %s", exc, extra={"call": call.id})
        with contextlib.suppress(EngineError):
            resolved = await gw.core.resolve(None, None)
            pipeline.voice, pipeline.language = resolved.voice, resolved.language
            pipeline.locale = resolved.locale
        return
    except EngineError as exc:
        log.error("engine unavailable for call: %s", exc, extra={"call": call.id})
        return
    pipeline.voice, pipeline.language = resolved.voice, resolved.language
    pipeline.locale = resolved.locale


async def twilio_endpoint(ws: WebSocket) -> None:
    gw: Gateway = ws.app.state.gateway
    if not origin_allowed(ws, gw.settings):
        gw.metrics.errors.labels(code="forbidden_origin").inc()
        await ws.close(code=1008, reason="origin not allowed")
        return
    if not valid_twilio_signature(ws, gw.settings):
        gw.metrics.errors.labels(code="bad_twilio_signature").inc()
        await ws.close(code=1008, reason="invalid X-Twilio-Signature")
        return
    await ws.accept()
    codec = TwilioCodec()
    call: Call | None = None
    reason = "hangup"
    close_code, close_reason = 1000, ""
    try:
        try:
            start = await _receive_start(ws, codec, gw)
        except (TimeoutError, NoStart) as exc:
            # A TimeoutError's text is empty (and the exception itself truthy): name the reason.
            log.info("twilio socket closed without a call: %s", str(exc) or "no start in time")
            close_code, close_reason = 1008, "no start"
            return
        call = new_call(gw, ws, start)
        await _resolve_voice(gw, call)
        greeting = start.custom_parameters.get("greeting")
        sentences = (
            await greeting_sentences(gw, greeting, call.pipeline.language) if greeting else []
        )
        try:
            gw.calls.register(call)
        except CallIdTaken as exc:
            gw.metrics.errors.labels(code="call_id_taken").inc()
            log.warning("twilio call refused: %s", exc, extra={"call": clip(start.call_sid, 64)})
            close_code, close_reason = 1008, "call id in use"
            await call.pipeline.aclose()
            call = None
            return
        gw.refresh_gauges()
        log.info("twilio call started", extra={"call": call.id})
        call.pipeline.add_sentences(sentences)
        reason = await _serve_call(ws, codec, gw, call)
    except Exception:
        log.exception("twilio stream failed", extra={"call": call.id if call else ""})
        reason, close_code = "error", 1011
    finally:
        if call is not None:
            await gw.calls.end(call, reason)
            gw.refresh_gauges()
        if ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await ws.close(close_code, close_reason)


async def _serve_call(ws: WebSocket, codec: TwilioCodec, gw: Gateway, call: Call) -> str:
    """Handle Twilio's messages until the stream stops; return why the call ended."""
    leg = call.leg
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return "hangup"
        try:
            if message.get("text") is None:
                codec.receive_bytes(message.get("bytes") or b"")
                continue
            event = codec.receive(message["text"])
        except TwilioProtocolError as exc:
            _protocol_error(gw, exc, call)
            continue
        if isinstance(event, Dtmf):
            await call.emit({"type": "dtmf", "digit": event.digit, "call": call.id})
        elif isinstance(event, Mark):
            outcome = leg.mark_echoed(event.name)
            log.debug("mark %s %s", clip(event.name, 64), outcome, extra={"call": call.id})
        elif isinstance(event, Stop):
            return "stop"
