"""Live calls terminated by the gateway, and the applications attached to them.

A call is known by every id a carrier gives it (Twilio: callSid, streamSid and
the `session` custom parameter; AudioSocket: the UUID) so the application can
attach with whichever it has. Each call owns one speaking pipeline on its leg;
an attached `/v1/speak` session feeds that pipeline and receives the call's
events (DTMF, hang-up). At most one application is attached at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telephony.legs import CallLeg

from .pipeline import SpeechPipeline
from .protocol import ProtocolError

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], Awaitable[None]]


async def _discard(_: dict[str, Any]) -> None:
    return None


@dataclass
class Call:
    id: str
    carrier: str
    leg: CallLeg
    pipeline: SpeechPipeline
    aliases: set[str] = field(default_factory=set)
    info: dict[str, Any] = field(default_factory=dict)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    end_reason: str = ""
    _listener: Emit | None = None

    @property
    def attached(self) -> bool:
        return self._listener is not None

    async def emit(self, event: dict[str, Any]) -> None:
        listener = self._listener
        if listener is not None:
            try:
                await listener(event)
            except Exception:  # the application went away; the call goes on
                log.debug("dropping call event for a gone application", exc_info=True)


class CallRegistry:
    def __init__(self) -> None:
        self._by_id: dict[str, Call] = {}
        self.live: dict[int, Call] = {}

    def __len__(self) -> int:
        return len(self.live)

    def register(self, call: Call) -> None:
        self.live[id(call)] = call
        for key in {call.id, *call.aliases}:
            if key:
                self._by_id[key] = call
        call.pipeline.emit = call.emit

    def get(self, call_id: str) -> Call | None:
        return self._by_id.get(call_id)

    def attach(self, call_id: str, listener: Emit) -> Call:
        call = self.get(call_id)
        if call is None or call.ended.is_set():
            raise ProtocolError(
                "unknown_call", f"no live call {call_id!r}", field="call", fatal=True
            )
        if call.attached:
            raise ProtocolError(
                "call_busy",
                f"call {call_id!r} already has an application attached",
                field="call",
                fatal=True,
            )
        call._listener = listener
        return call

    def detach(self, call: Call, listener: Emit) -> None:
        if call._listener is listener:
            call._listener = None

    async def end(self, call: Call, reason: str) -> None:
        """The call is over: tell the application, stop speaking, forget its ids."""
        if call.ended.is_set():
            return
        call.end_reason = reason
        call.ended.set()
        call.leg.mark_closed()
        await call.emit({"type": "call_ended", "call": call.id, "reason": reason})
        await call.pipeline.aclose()
        self.live.pop(id(call), None)
        for key in [k for k, v in self._by_id.items() if v is call]:
            del self._by_id[key]

    def all(self) -> list[Call]:
        return list(self.live.values())
