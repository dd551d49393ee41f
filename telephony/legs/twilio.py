"""The Twilio Media Streams call leg (SignalWire too): buffered playout, marks, clear.

Twilio buffers what it is sent and plays it in order, so this leg runs ahead of
real time by `lead_ms`; that rides out a slow synthesis step without gaps, and
costs nothing on barge-in because `clear` empties Twilio's buffer. Marks are
sent as the session asks (one per sentence); Twilio echoes each when the audio
before it has played, which re-anchors the played position, or at once after a
`clear`, which this leg recognises as "discarded" rather than "played".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from telephony import twilio
from telephony.legs.base import CallLeg, Clock, Sleep
from telephony.media import MediaFormat

__all__ = ["MarkOutcome", "TwilioLeg"]

MarkOutcome = Literal["played", "discarded", "unknown"]

DEFAULT_LEAD_MS = 500


class TwilioLeg(CallLeg):
    """µ-law 8 kHz frames as Twilio `media` messages on one stream."""

    def __init__(
        self,
        send_text: Callable[[str], Awaitable[None]],
        stream_sid: str,
        *,
        lead_ms: float = DEFAULT_LEAD_MS,
        frame_ms: int = 20,
        close: Callable[[], Awaitable[None]] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(
            MediaFormat("mulaw", 8000, frame_ms), lead_ms=lead_ms, clock=clock, sleep=sleep
        )
        self._send_text = send_text
        self._close = close
        self.stream_sid = stream_sid

    async def _emit_frame(self, frame: bytes) -> None:
        await self._send_text(twilio.media(self.stream_sid, frame))

    async def _emit_mark(self, name: str) -> None:
        await self._send_text(twilio.mark(self.stream_sid, name))

    async def _emit_clear(self) -> None:
        await self._send_text(twilio.clear(self.stream_sid))

    async def _emit_hangup(self) -> None:
        """Media Streams has no hang-up message: closing the socket ends `<Connect>`."""
        if self._close is not None:
            await self._close()

    def on_mark_echo(self, name: str) -> MarkOutcome:
        """Classify a `mark` event from Twilio; a played one corrects our clock."""
        for i, pending in enumerate(self._marks):
            if pending.name == name:
                del self._marks[i]
                if pending.epoch == self._epoch:
                    self._pacer.observe_played(pending.position_ms)
                return "played"
        if name in self._discarded:
            self._discarded.remove(name)
            return "discarded"
        return "unknown"
