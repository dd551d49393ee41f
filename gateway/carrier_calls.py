"""What every terminated call has in common, whatever its carrier and transport.

The drivers (`gateway.drivers.websocket`, `gateway.drivers.tcp`) read bytes
and hand them to a codec; from the codec's `CallStarted` on, everything is
the same for every carrier and lives here: the call's parameters (the leg
URL's query string, overlaid by the carrier's own custom parameters; `token`
is taken out and never stored, logged or announced), its aliases (`session`),
its voice, language and `normalize`, the greeting (spoken and normalized as
soon as the call starts, before any application attaches, cut to
`max_greeting_chars` and the sentence limit like any other text),
registration (a call claiming a live call's id is refused, the live call is
untouched), and what each shared call event does. A bad parameter never costs
the caller the call: it is counted, logged, and the default is used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping

from telephony.carriers import CarrierCodec, CarrierProtocolError
from telephony.events import (
    CallerAudio,
    CallEvent,
    CallStarted,
    Cleared,
    Dtmf,
    FlowControl,
    HungUp,
    MarkPlayed,
)
from telephony.legs import CallLeg
from tts_core import EngineError, InvalidRequest
from tts_core.normalize import NormalizeSettingError, parse_setting, setting_text

from .calls import Call, CallIdTaken
from .pipeline import SpeechPipeline
from .protocol import clip
from .segmenter import SentenceSegmenter
from .state import Gateway

SECRET_PARAMS = frozenset({"token"})


def carrier_log(name: str) -> logging.Logger:
    """One logger per carrier (`gateway.carriers.twilio`, ...), whichever driver runs it."""
    return logging.getLogger(f"gateway.carriers.{name}")


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


async def greeting_sentences(gw: Gateway, name: str, text: str, language: str | None) -> list[str]:
    """The greeting as sentences, bounded like any text a client sends."""
    settings = gw.settings
    capped = cap_text(text, settings.max_greeting_chars)
    segmenter = SentenceSegmenter(
        language or "en", early_first_clause=False, max_sentence_chars=settings.max_sentence_chars
    )
    sentences = await gw.segmentation.run(
        name, capped, lambda: segmenter.push(capped, time.monotonic()) + segmenter.flush()
    )
    limit = settings.max_queued_sentences
    if capped != text or len(sentences) > limit:
        carrier_log(name).warning(
            "greeting cut to %d characters and %d sentences",
            len(capped),
            min(limit, len(sentences)),
        )
    return sentences[:limit]


def call_params(query: Mapping[str, str], started: CallStarted) -> dict[str, str]:
    """The call's parameters: the leg URL's query, then the carrier's own on top."""
    return {**query, **started.params}


def protocol_error(gw: Gateway, name: str, exc: CarrierProtocolError, call_id: str = "") -> None:
    """Count and log a carrier's bad message (clipped: carrier input is untrusted)."""
    code = f"{name}_protocol" if exc.fatal else f"{name}_{exc.code}"
    gw.metrics.errors.labels(code=code).inc()
    carrier_log(name).warning(
        "%s protocol error %s: %s", name, exc.code, clip(exc.message), extra={"call": call_id}
    )


def _normalize(gw: Gateway, name: str, params: Mapping[str, str], call_id: str) -> str:
    if "normalize" not in params:
        return "on"
    try:
        return setting_text(parse_setting(params["normalize"]))
    except NormalizeSettingError as exc:
        # No client to tell yet: counted and logged, and the call is read with "on".
        gw.metrics.errors.labels(code="invalid_setting").inc()
        carrier_log(name).warning("call parameter ignored: %s", exc, extra={"call": call_id})
        return "on"


async def _resolve_voice(gw: Gateway, call: Call) -> None:
    """Apply the call's `voice`/`language` parameters as the engine reads them."""
    pipeline = call.pipeline
    log = carrier_log(call.carrier)
    try:
        resolved = await gw.core.resolve(pipeline.voice, pipeline.language)
    except InvalidRequest as exc:
        log.warning("call parameter ignored: %s", exc, extra={"call": call.id})
        try:
            resolved = await gw.core.resolve(None, None)
        except EngineError:
            return
    except EngineError as exc:
        log.error("engine unavailable for call: %s", exc, extra={"call": call.id})
        return
    pipeline.voice, pipeline.language = resolved.voice, resolved.language
    pipeline.locale = resolved.locale


async def open_call(
    gw: Gateway,
    codec: CarrierCodec,
    started: CallStarted,
    leg: CallLeg,
    query: Mapping[str, str] | None = None,
) -> tuple[Call, list[str]]:
    """A call ready to register, and its greeting's sentences (not yet queued)."""
    name = codec.name
    params = call_params(query or {}, started)
    pipeline = SpeechPipeline(
        gw.core,
        leg,
        voice=params.get("voice"),
        language=params.get("language"),
        normalize=_normalize(gw, name, params, started.call_id),
        metrics=gw.metrics,
        max_queued=gw.settings.max_queued_sentences,
        max_markers=gw.settings.max_pending_marks,
        carrier_marks=codec.playback_acks,
        log_extra={"call": started.call_id},
    )
    aliases = {a for a in ((query or {}).get("session"), started.params.get("session")) if a}
    public = {k: v for k, v in params.items() if k not in SECRET_PARAMS}
    call = Call(
        started.call_id,
        name,
        leg,
        pipeline,
        ids=set(started.ids) - {started.call_id},
        aliases=aliases,
        params=public,
        from_=started.from_ or params.get("from"),
        to=started.to or params.get("to"),
    )
    call.info = dict(started.info)
    call.output = {
        "format": name,
        "encoding": leg.fmt.encoding,
        "sample_rate": leg.fmt.sample_rate,
        "frame_ms": leg.fmt.frame_ms,
    }
    if "stream_sid" in started.info:
        call.output["stream_sid"] = started.info["stream_sid"]
    try:
        await _resolve_voice(gw, call)
        greeting = params.get("greeting")
        sentences = (
            await greeting_sentences(gw, name, greeting, pipeline.language) if greeting else []
        )
    except BaseException:
        await pipeline.aclose()  # never registered: nobody else will stop its tasks
        raise
    return call, sentences


async def register(gw: Gateway, call: Call) -> bool:
    """Make the call attachable; False (and the pipeline closed) when its id is taken.

    With Redis, a call's ids and aliases are claimed for this replica first, all
    or none, so no replica can register an id another replica's live call holds.
    """
    try:
        gw.calls.check(call)
        if gw.cluster is not None and not await gw.cluster.claim(call):
            raise CallIdTaken("an id or alias belongs to a live call on another replica")
        try:
            gw.calls.register(call)
        except CallIdTaken:  # registered here while the claim was on its way
            if gw.cluster is not None:
                await gw.cluster.unclaim(call)
            raise
    except CallIdTaken as exc:
        gw.metrics.errors.labels(code="call_id_taken").inc()
        carrier_log(call.carrier).warning(
            "%s call refused: %s", call.carrier, exc, extra={"call": clip(call.id, 64)}
        )
        await call.pipeline.aclose()
        return False
    gw.refresh_gauges()
    carrier_log(call.carrier).info("%s call started", call.carrier, extra={"call": call.id})
    return True


async def handle_events(call: Call, events: Iterable[CallEvent]) -> str | None:
    """Act on the carrier's events; the reason when one of them ends the call."""
    for event in events:
        if isinstance(event, CallerAudio):
            call.hear(event)
        elif isinstance(event, Dtmf):
            await call.dtmf(event.digit)
        elif isinstance(event, MarkPlayed):
            outcome = call.leg.mark_echoed(event.name)
            carrier_log(call.carrier).debug(
                "mark %s %s", clip(event.name, 64), outcome, extra={"call": call.id}
            )
        elif isinstance(event, FlowControl):
            call.leg.pause(event.paused)
        elif isinstance(event, Cleared):
            carrier_log(call.carrier).debug("carrier cleared", extra={"call": call.id})
        elif isinstance(event, HungUp):
            return event.reason
    return None
