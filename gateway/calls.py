"""Live calls terminated by the gateway, and the applications attached to them.

A call is known by the ids its carrier gave it (Twilio: callSid and streamSid;
Telnyx: call_control_id; AudioSocket: the UUID; ...) and by aliases chosen in
carrier data (a `session` parameter), so the application can attach with
whichever it has: `/v1/speak?call=<carrier id>` or `/v1/speak?session=<alias>`.

Ownership is the point of this module. Anyone who can open a carrier socket
chooses the ids and aliases it announces, so:

* a live id or alias is never replaced or shadowed: a second registration of
  one is refused as a whole (`CallIdTaken`) and the live call is untouched;
* aliases live in their own namespace, so an alias can never be looked up as
  another call's carrier id, and they are restricted to a safe shape;
* a call is registered only once fully set up, and the owner removes it in a
  `finally` (`end`), so no dead call stays attachable.

Each call owns one speaking pipeline on its leg; an attached `/v1/speak`
session feeds that pipeline and receives the call's events (DTMF, marks,
hang-up) and, unless it said `listen=0`, the caller's audio. At most one
application is attached at a time. Every call that becomes attachable is
announced (`call_started`) and every one that ends says why (`call_ended`),
through `on_event`, to `/v1/calls` and the webhook.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telephony.events import CallerAudio
from telephony.legs import CallLeg

from .caller_audio import CallerAudioFeed
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
    params: dict[str, str] = field(default_factory=dict)  # the carrier's custom parameters
    from_: str | None = None
    to: str | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    end_reason: str = ""
    started_at: float = field(default_factory=time.monotonic)
    _listener: Emit | None = None
    _audio: CallerAudioFeed | None = None
    _hung_up_by: str = ""  # our own hang-up's reason, which wins over the carrier's close

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

    async def dtmf(self, digit: str) -> None:
        """The one place a DTMF event for the application is made, whatever the carrier."""
        await self.emit({"type": "dtmf", "digit": digit, "call": self.id})

    def hear(self, audio: CallerAudio) -> None:
        """Caller audio from the carrier: on to the attached application, if it listens."""
        if self._audio is not None:
            self._audio.hear(audio)

    def listen(self, feed: CallerAudioFeed) -> None:
        """Send the caller's audio to the attached application through `feed`."""
        self.unlisten()
        self._audio = feed
        feed.start()

    def unlisten(self) -> None:
        feed, self._audio = self._audio, None
        if feed is not None:
            feed.close()

    def started_event(self) -> dict[str, Any]:
        """`call_started`, as `/v1/calls` and the webhook carry it."""
        return {
            "type": "call_started",
            "call": self.id,
            "carrier": self.carrier,
            "ids": sorted(self.ids),
            "aliases": sorted(self.aliases),
            "from": self.from_,
            "to": self.to,
            "parameters": dict(self.params),
            "at": round(time.time(), 3),
        }


CallEventHook = Callable[[dict[str, Any], "Call"], None]


def unknown_call(name: str, field: str) -> ProtocolError:
    """The refusal of an attach to a call that is not live (here, or on any replica)."""
    return ProtocolError("unknown_call", f"no live call {name[:64]!r}", field=field, fatal=True)


class CallRegistry:
    """This process's live calls by carrier id and by alias (see the module docstring).

    `on_event(event, call)` hears every `call_started` and `call_ended`; the
    gateway fans them out to `/v1/calls`, the webhook and, with Redis, the
    other replicas (which also need the call's ids to publish or release).
    """

    def __init__(self, on_event: CallEventHook | None = None) -> None:
        self._by_id: dict[str, Call] = {}
        self._by_alias: dict[str, Call] = {}
        self.live: dict[int, Call] = {}
        self._on_event: CallEventHook = on_event or (lambda _event, _call: None)

    def __len__(self) -> int:
        return len(self.live)

    def check(self, call: Call) -> None:
        """Raise `CallIdTaken` if `call` could not be registered here now (nothing changes)."""
        bad = [i for i in call.carrier_ids if not valid_carrier_id(i)]
        bad += [a for a in call.aliases if not valid_alias(a)]
        if bad:
            raise CallIdTaken(f"malformed call id or alias {bad[0][:64]!r}")
        taken = [i for i in call.carrier_ids if i in self._by_id]
        taken += [a for a in call.aliases if a in self._by_alias]
        if taken:
            raise CallIdTaken(f"{taken[0]!r} belongs to a live call")

    def register(self, call: Call) -> None:
        """Make `call` attachable, or raise `CallIdTaken` and change nothing."""
        self.check(call)
        self.live[id(call)] = call
        for key in call.carrier_ids:
            self._by_id[key] = call
        for alias in call.aliases:
            self._by_alias[alias] = call
        call.pipeline.emit = call.emit
        call.started_at = time.monotonic()
        self._on_event(call.started_event(), call)

    def get(self, call_id: str) -> Call | None:
        """The live call with this carrier id (aliases are not looked up here)."""
        return self._by_id.get(call_id)

    def by_alias(self, alias: str) -> Call | None:
        return self._by_alias.get(alias)

    def attach(self, listener: Emit, *, call_id: str = "", alias: str = "") -> Call:
        call = self.get(call_id) if call_id else self.by_alias(alias)
        name, field_name = (call_id, "call") if call_id else (alias, "session")
        if call is None or call.ended.is_set():
            raise unknown_call(name, field_name)
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
            call.unlisten()

    async def hang_up(self, call: Call, reason: str = "app_hangup") -> None:
        """End the call from our side, the carrier's way (its leg knows how), then end it."""
        if call.ended.is_set():
            return
        call._hung_up_by = reason  # the leg closing under the driver is this, not a hang-up
        try:
            await call.leg.hangup()
        except Exception:  # the transport is already gone: the call is over all the same
            log.debug("hang-up could not be sent", exc_info=True, extra={"call": call.id})
        await self.end(call, reason)

    async def end(self, call: Call, reason: str) -> None:
        """The call is over: forget its ids, tell the application, stop speaking."""
        if call.ended.is_set():
            return
        reason = call._hung_up_by or reason
        call.end_reason = reason
        call.ended.set()
        was_live = self.live.pop(id(call), None) is not None
        if was_live:
            for key in call.carrier_ids:
                if self._by_id.get(key) is call:
                    del self._by_id[key]
            for alias in call.aliases:
                if self._by_alias.get(alias) is call:
                    del self._by_alias[alias]
        call.leg.mark_closed()
        call.unlisten()
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
        if was_live:  # announced by `register`: its end is announced too
            self._on_event(
                {"type": "call_ended", "call": call.id, "carrier": call.carrier, "reason": reason,
                 "duration_s": round(duration, 3), "at": round(time.time(), 3)},
                call,
            )  # fmt: skip
        await call.pipeline.aclose()

    def all(self) -> list[Call]:
        return list(self.live.values())
