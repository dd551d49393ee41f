"""The call leg: one carrier connection's paced frames, ordered marks, barge-in and playout.

A leg sits between a producer of exact wire frames (the speaking pipeline) and
one connection. It is put together from three parts instead of being
subclassed per carrier: a *wire* (a carrier codec, or one of the gateway's own
output formats) that turns commands into the messages to write, a `write`
callable that puts a message on the transport, and a *pacing* strategy
(`telephony.legs.pacing`) that decides when frames leave. The leg itself owns
what every carrier shares: marks and their positions, telling a played mark
from one a `clear` discarded, barge-in, waiting for playout, and hang-up.

I/O, the clock and sleep are injected, so every leg is tested with in-memory
sinks and virtual time.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from telephony.events import ClearAudio, Command, EndCall, SendAudio, SendMark
from telephony.legs.pacing import Pacing, SendAhead
from telephony.media import MediaFormat

__all__ = ["CallLeg", "Clock", "MarkOutcome", "PendingMark", "Sleep", "Wire", "Write"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Write = Callable[[str | bytes], Awaitable[None]]
MarkOutcome = Literal["played", "discarded", "unknown"]

_EPS_MS = 1e-3
_DISCARDED_KEPT = 256  # names of cut marks kept to recognise late echoes (bounded)


class Wire(Protocol):
    """What a leg needs from a codec: its frame format and the messages for each command."""

    fmt: MediaFormat | None
    max_frames_per_message: int

    def send(self, command: Command) -> list[str | bytes]: ...


@dataclass(frozen=True)
class PendingMark:
    """A mark waiting for the audio before it to play (`position_ms` in leg audio)."""

    name: str
    position_ms: float
    epoch: int


class CallLeg:
    """Sends paced frames to one connection; see the module docstring."""

    def __init__(
        self,
        wire: Wire,
        write: Write,
        *,
        pacing: Pacing | None = None,
        close: Callable[[], Awaitable[None]] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if wire.fmt is None:
            raise ValueError("the wire's media format must be known before a leg is made")
        self.wire = wire
        self.fmt: MediaFormat = wire.fmt
        self._write = write
        self._close = close
        self.clock = clock
        self.sleep = sleep
        self.closed = False
        self.epoch = 0
        self._marks: deque[PendingMark] = deque()
        self._discarded: deque[str] = deque(maxlen=_DISCARDED_KEPT)
        self.frames_sent = 0
        self.frames_dropped = 0
        self.error: BaseException | None = None
        self.pacing = pacing or SendAhead(0)
        self.pacing.bind(self)

    # -- state -----------------------------------------------------------------

    @property
    def lead_ms(self) -> float:
        return self.pacing.lead_ms

    @property
    def max_frames_per_message(self) -> int:
        """Frames one message may carry when several are due at once."""
        return self.wire.max_frames_per_message

    def played_ms(self) -> float:
        """Audio the listener has heard on this leg, cumulative."""
        return self.pacing.played_ms()

    def buffered_ms(self) -> float:
        """Audio accepted by the leg but not yet played."""
        return self.pacing.buffered_ms()

    def unsent_ms(self) -> float:
        """Audio accepted and not yet written to the transport (a pump's queue)."""
        return self.pacing.unsent_ms()

    def mark_closed(self) -> None:
        """The far end went away (hang-up, socket closed): stop without sending anything."""
        self.closed = True
        self.epoch += 1
        self.pacing.on_closed()

    def check_frame(self, frame: bytes) -> None:
        if len(frame) != self.fmt.frame_bytes:
            raise ValueError(f"frame is {len(frame)} bytes, expected {self.fmt.frame_bytes}")

    # -- the wire --------------------------------------------------------------

    async def _send(self, command: Command) -> None:
        for message in self.wire.send(command):
            await self._write(message)

    async def emit_audio(self, frames: Sequence[bytes]) -> None:
        """Write frames now (the pacing strategy decides when to call this)."""
        await self._send(SendAudio(tuple(frames)))

    # -- sending ---------------------------------------------------------------

    async def send_frame(self, frame: bytes) -> bool:
        """Send one frame when the pacing allows; False if a clear or a close dropped it."""
        return await self.pacing.send_frames((frame,)) == 1

    async def send_frames(self, frames: Sequence[bytes]) -> int:
        """Send `frames[0]` when due, with following frames already due when the wire
        carries several per message; how many were sent (0 when cut)."""
        return await self.pacing.send_frames(frames)

    async def send_mark(self, name: str) -> bool:
        """Place a mark after every frame already sent (one per sentence, not per frame)."""
        if self.closed:
            return False
        self._marks.append(PendingMark(name, self.pacing.position_ms(), self.epoch))
        await self._send(SendMark(name))
        return True

    def mark_echoed(self, name: str) -> MarkOutcome:
        """Classify a mark the carrier reports; a played one corrects the playout clock."""
        for i, pending in enumerate(self._marks):
            if pending.name == name:
                del self._marks[i]
                if pending.epoch == self.epoch:
                    self.pacing.observe_played(pending.position_ms)
                return "played"
        if name in self._discarded:
            self._discarded.remove(name)
            return "discarded"
        return "unknown"

    def pop_played_marks(self) -> list[str]:
        """Marks whose audio has played by this leg's clock (carriers without acks)."""
        played = self.played_ms() + _EPS_MS
        names = []
        while self._marks and self._marks[0].position_ms <= played:
            names.append(self._marks.popleft().name)
        return names

    def pop_discarded_marks(self) -> list[str]:
        """Marks whose audio was cut by a `clear()` before it played."""
        names = list(self._discarded)
        self._discarded.clear()
        return names

    def _cut_marks(self, cut_ms: float) -> None:
        kept: deque[PendingMark] = deque()
        for m in self._marks:
            if m.position_ms <= cut_ms + _EPS_MS:
                kept.append(m)
            else:
                self._discarded.append(m.name)
        self._marks = kept

    def pause(self, paused: bool) -> None:
        """Carrier flow control (chan_websocket MEDIA_XOFF / MEDIA_XON)."""
        self.pacing.pause(paused)

    async def clear(self) -> float:
        """Barge-in: drop everything unplayed; return the played position at the cut."""
        self.epoch += 1
        if self.closed:
            return self.played_ms()
        cut = self.pacing.clear()
        self._cut_marks(cut)
        await self._send(ClearAudio())
        return cut

    async def wait_sent(self) -> bool:
        """Wait until every frame accepted so far has left this process.

        `flushed` and `done` are only true once this returns. False if a
        `clear()` or a close dropped frames instead.
        """
        return await self.pacing.wait_sent(self.epoch)

    async def wait_played(self, position_ms: float | None = None) -> bool:
        """Wait until audio up to `position_ms` (default: all sent) has played.

        False if a `clear()` or a close came first. Use it before hanging up so
        the last sentence is heard.
        """
        target = self.pacing.position_ms() if position_ms is None else position_ms
        epoch = self.epoch
        while True:
            if self.closed or epoch != self.epoch:
                return False
            remaining = target - self.played_ms()
            if remaining <= _EPS_MS:
                return True
            await self.sleep(min(remaining, self.fmt.frame_ms) / 1000.0)

    # -- lifetime ----------------------------------------------------------------

    def start(self) -> None:
        """Start the pacing's own clock (a pump); nothing for legs that send ahead."""
        self.pacing.start()

    async def stop(self) -> None:
        await self.pacing.stop()

    async def hangup(self) -> None:
        """End the call from our side, the carrier's way, then close the transport (once)."""
        if self.closed:
            return
        self.mark_closed()
        await self.pacing.stop()
        try:
            await self._send(EndCall())
        finally:
            if self._close is not None:
                await self._close()
