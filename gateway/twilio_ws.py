"""`/twilio`: the gateway as the far end of a Twilio `<Connect><Stream>`.

Twilio opens this socket when a call reaches the TwiML; the call is registered
under its callSid, streamSid and `session` custom parameter so an application
can attach with `/v1/speak?call=<id>`. Custom parameters `voice`, `language`
and `greeting` configure the call; the greeting is spoken as soon as the stream
starts, before any application attaches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket

from telephony.legs import TwilioLeg
from telephony.twilio import Dtmf, Mark, Start, Stop, TwilioCodec, TwilioProtocolError

from .auth import valid_twilio_signature
from .calls import Call
from .pipeline import SpeechPipeline
from .segmenter import SentenceSegmenter

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger(__name__)

TWILIO_LEAD_MS = 400  # Twilio buffers: run a little ahead, keep `clear` and marks precise
SEND_TIMEOUT_S = 10.0


def greeting_sentences(text: str, language: str | None) -> list[str]:
    segmenter = SentenceSegmenter(language or "en", early_first_clause=False)
    return segmenter.push(text, time.monotonic()) + segmenter.flush()


def start_call(gw: Gateway, leg: TwilioLeg, start: Start) -> Call:
    params = start.custom_parameters
    pipeline = SpeechPipeline(
        gw.core,
        leg,
        voice=params.get("voice"),
        language=params.get("language"),
        metrics=gw.metrics,
        max_queued=gw.settings.max_queued_sentences,
        carrier_marks=True,
        log_extra={"call": start.call_sid},
    )
    aliases = {start.stream_sid, params.get("session", "")}
    call = Call(start.call_sid, "twilio", leg, pipeline, aliases=aliases - {""})
    call.info = {"stream_sid": start.stream_sid, "account_sid": start.account_sid}
    gw.calls.register(call)
    if greeting := params.get("greeting"):
        pipeline.add_sentences(greeting_sentences(greeting, params.get("language")))
    return call


async def twilio_endpoint(ws: WebSocket) -> None:
    gw: Gateway = ws.app.state.gateway
    if not valid_twilio_signature(ws, gw.settings):
        gw.metrics.errors.labels(code="bad_twilio_signature").inc()
        await ws.close(code=1008, reason="invalid X-Twilio-Signature")
        return
    await ws.accept()
    codec = TwilioCodec()
    call: Call | None = None
    leg: TwilioLeg | None = None
    reason = "hangup"

    async def send_text(text: str) -> None:
        async with asyncio.timeout(SEND_TIMEOUT_S):  # not wait_for: it can swallow a cancel
            await ws.send_text(text)

    async def close() -> None:
        await ws.close(1000)

    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            try:
                if message.get("text") is None:
                    codec.receive_bytes(message.get("bytes") or b"")
                    continue
                event = codec.receive(message["text"])
            except TwilioProtocolError as exc:
                # Twilio's own rule (31950/31951): report and carry on with the call.
                gw.metrics.errors.labels(code=f"twilio_{exc.code}").inc()
                log.warning(
                    "twilio protocol error %s: %s",
                    exc.code,
                    exc,
                    extra={"call": call.id if call else ""},
                )
                continue
            if isinstance(event, Start):
                leg = TwilioLeg(send_text, event.stream_sid, lead_ms=TWILIO_LEAD_MS, close=close)
                call = start_call(gw, leg, event)
                gw.refresh_gauges()
                log.info("twilio call started", extra={"call": call.id})
            elif call is None or leg is None:
                continue
            elif isinstance(event, Dtmf):
                await call.emit({"type": "dtmf", "digit": event.digit, "call": call.id})
            elif isinstance(event, Mark):
                outcome = leg.on_mark_echo(event.name)
                log.debug("mark %s %s", event.name, outcome, extra={"call": call.id})
            elif isinstance(event, Stop):
                reason = "stop"
                break
    except Exception:
        log.exception("twilio stream failed", extra={"call": call.id if call else ""})
        reason = "error"
    finally:
        if call is not None:
            await gw.calls.end(call, reason)
            gw.refresh_gauges()
