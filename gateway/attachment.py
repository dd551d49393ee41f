"""A `/v1/speak` session attached to a live call: what it brings, hears, and can end.

The session's text goes to the call's own pipeline, spoken with the voice,
language, speed and `normalize` the session resolved (from then on, for the
call); `ready` reports the call's leg (what the caller actually gets), the
call's ids and, unless `listen=0`, the format the caller's audio arrives in:
the session's own `encoding`, `sample_rate` and `frame_ms`. A `hangup` speaks
and plays what is queued first, bounded, then ends the call the carrier's way.
With Redis, a call held by another replica is found here, and the session
is bridged there (`gateway.speak`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telephony.media import MediaFormat
from tts_core import Resolved

from .caller_audio import CallerAudioFeed
from .calls import Call, CallRegistry
from .cluster import ClusterUnavailable, Owner
from .metrics import Metrics
from .pipeline import SpeechPipeline
from .protocol import ProtocolError, SpeakSettings
from .state import Gateway

log = logging.getLogger(__name__)

HANGUP_DRAIN_S = 60.0  # longest a hang-up waits for queued speech to play


async def held_elsewhere(gw: Gateway, settings: SpeakSettings) -> Owner | None:
    """With Redis: the replica holding the call to attach to, when it is not this one."""
    cluster, call_id, alias = gw.cluster, settings.call or "", settings.session or ""
    if cluster is None or not (call_id or alias):
        return None
    if (gw.calls.get(call_id) if call_id else gw.calls.by_alias(alias)) is not None:
        return None
    try:
        return await cluster.locate(call_id=call_id, alias=alias)
    except ClusterUnavailable as exc:
        raise ProtocolError(
            "cluster_unavailable",
            "where this call lives cannot be known right now; try again shortly",
            field="call" if call_id else "session",
            fatal=True,
        ) from exc


def bring(call: Call, resolved: Resolved, settings: SpeakSettings) -> SpeechPipeline:
    """The call's pipeline, set to speak as this session asked."""
    pipeline = call.pipeline
    pipeline.voice = resolved.voice
    pipeline.language = resolved.language
    pipeline.speed = resolved.speed
    pipeline.locale = resolved.locale
    pipeline.normalize = settings.normalize
    return pipeline


def listen_format(settings: SpeakSettings) -> dict[str, Any] | bool:
    """What the caller's audio arrives as (the session's own format), or False."""
    if not settings.listen:
        return False
    fmt = MediaFormat(settings.encoding, settings.sample_rate, settings.frame_ms)
    return {"encoding": fmt.encoding, "sample_rate": fmt.sample_rate, "frame_ms": fmt.frame_ms,
            "frame_bytes": fmt.frame_bytes}  # fmt: skip


def ready_fields(call: Call, settings: SpeakSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """`ready`'s settings (the call's own leg) and the attachment's own fields."""
    resolved = settings.as_dict() | call.output | {"lead_ms": call.leg.lead_ms}
    output = {
        "carrier": call.carrier,
        "call": call.id,
        "aliases": sorted(call.aliases),
        "listen": listen_format(settings),
    }
    return resolved, output


def start_listening(
    call: Call,
    settings: SpeakSettings,
    send_bytes: Callable[[bytes], Awaitable[None]],
    metrics: Metrics,
) -> None:
    """Send the caller's audio to the session (call this after `ready`)."""
    if settings.listen:
        fmt = MediaFormat(settings.encoding, settings.sample_rate, settings.frame_ms)
        call.listen(CallerAudioFeed(send_bytes, fmt, metrics))


async def hang_up_after_playout(
    calls: CallRegistry, call: Call, pipeline: SpeechPipeline, log_extra: dict[str, str]
) -> None:
    """Speak and play what is queued (bounded), then end the call the carrier's way."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(HANGUP_DRAIN_S):
            await pipeline.drain()
            await call.leg.wait_played()
    log.info("application hangs up", extra=log_extra)
    await calls.hang_up(call, "app_hangup")
