"""Live calls terminated by the gateway, and the applications attached to them.

A call is known by the ids its carrier gave it (Twilio: callSid and streamSid;
AudioSocket: the UUID) and by aliases chosen in carrier data (Twilio's
`session` custom parameter), so the application can attach with whichever it
has: `/v1/speak?call=<carrier id>` or `/v1/speak?session=<alias>`.

Ownership is the point of this module. Anyone who can open a carrier socket
chooses the ids and aliases it announces, so:

* a live id or alias is never replaced or shadowed: a second registration of
  one is refused as a whole (`CallIdTaken`) and the live call is untouched;
* aliases live in their own namespace, so an alias can never be looked up as
  another call's carrier id, and they are restricted to a safe shape;
* a call is registered only once fully set up, and the owner removes it in a
  `finally` (`end`), so no dead call stays attachable.

Each call owns one speaking pipeline on its leg; an attached `/v1/speak`
session feeds that pipeline and receives the call's events (DTMF, hang-up).
At most one application is attached at a time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telephony.legs import CallLeg

from .pipeline import SpeechPipeline
from .protocol import ProtocolError

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], Awaitable[None]]

ALIAS_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
CARRIER_ID_PATTERN = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces


class CallIdTaken(Exception):
    """A carrier leg announced an id or alias that a live call already holds."""


def valid_alias(alias: str) -> bool:
    return ALIAS_PATTERN.fullmatch(alias) is not None


def valid_carrier_id(call_id: str) -> bool:
    return CARRIER_ID_PATTERN.fullmatch(call_id) is not None


@dataclass
class Call:
    id: str
    carrier: str
    leg: CallLeg
    pipeline: SpeechPipeline
    ids: set[str] = field(default_factory=set)  # other carrier ids (Twilio streamSid)
    aliases: set[str] = field(default_factory=set)
    info: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)  # the leg's settings, for `ready`
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    end_reason: str = ""
    started_at: float = field(default_factory=time.monotonic)
    _listener: Emit | None = None

    @property
    def carrier_ids(self) -> set[str]:
        return {self.id, *self.ids}

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
        self._by_alias: dict[str, Call] = {}
        self.live: dict[int, Call] = {}

    def __len__(self) -> int:
        return len(self.live)

    def register(self, call: Call) -> None:
        """Make `call` attachable, or raise `CallIdTaken` and change nothing."""
        bad = [i for i in call.carrier_ids if not valid_carrier_id(i)]
        bad += [a for a in call.aliases if not valid_alias(a)]
        if bad:
            raise CallIdTaken(f"malformed call id or alias {bad[0][:64]!r}")
        taken = [i for i in call.carrier_ids if i in self._by_id]
        taken += [a for a in call.aliases if a in self._by_alias]
        if taken:
            raise CallIdTaken(f"{taken[0]!r} belongs to a live call")
        self.live[id(call)] = call
        for key in call.carrier_ids:
            self._by_id[key] = call
        for alias in call.aliases:
            self._by_alias[alias] = call
        call.pipeline.emit = call.emit

    def get(self, call_id: str) -> Call | None:
        """The live call with this carrier id (aliases are not looked up here)."""
        return self._by_id.get(call_id)

    def by_alias(self, alias: str) -> Call | None:
        return self._by_alias.get(alias)

    def attach(self, listener: Emit, *, call_id: str = "", alias: str = "") -> Call:
        call = self.get(call_id) if call_id else self.by_alias(alias)
        name, field_name = (call_id, "call") if call_id else (alias, "session")
        if call is None or call.ended.is_set():
            raise ProtocolError(
                "unknown_call", f"no live call {name[:64]!r}", field=field_name, fatal=True
            )
        if call.attached:
            raise ProtocolError(
                "call_busy",
                f"call {name[:64]!r} already has an application attached",
                field=field_name,
                fatal=True,
            )
        call._listener = listener
        return call

    def detach(self, call: Call, listener: Emit) -> None:
        # ==, not `is`: a session passes its bound `emit`, a new object at each access.
        if call._listener == listener:
            call._listener = None

    async def end(self, call: Call, reason: str) -> None:
        """The call is over: forget its ids, tell the application, stop speaking."""
        if call.ended.is_set():
            return
        call.end_reason = reason
        call.ended.set()
        if self.live.pop(id(call), None) is not None:
            for key in call.carrier_ids:
                if self._by_id.get(key) is call:
                    del self._by_id[key]
            for alias in call.aliases:
                if self._by_alias.get(alias) is call:
                    del self._by_alias[alias]
        call.leg.mark_closed()
        duration = time.monotonic() - call.started_at
        log.info(
            "call ended",
            extra={"call": call.id, "carrier": call.carrier, "reason": reason,
                   "duration_s": round(duration, 3)},
        )  # fmt: skip
        await call.emit(
            {"type": "call_ended", "call": call.id, "reason": reason,
             "duration_s": round(duration, 3)}
        )  # fmt: skip
        await call.pipeline.aclose()

    def all(self) -> list[Call]:
        return list(self.live.values())
