"""The call-leg contract: paced frames, ordered marks, barge-in and playout position.

A leg sits between a session that produces exact wire frames and one carrier
connection. It owns timing (frames leave on the `Pacer`'s deadline clock, so a
fast producer is held back rather than flooding the carrier) and knows how much
audio the listener has heard, so a barge-in can report the text actually heard.
I/O is injected as async callables, and the clock and sleep are injected too,
so every leg is tested with in-memory sinks and virtual time.

Subclasses implement the `_emit_*` hooks for their wire format; the gateway's
own plain WebSocket formats subclass this the same way the carriers do.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from telephony.media import MediaFormat
from telephony.pacer import Pacer

__all__ = ["CallLeg", "Clock", "PendingMark", "Sleep"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_EPS_MS = 1e-3


@dataclass(frozen=True)
class PendingMark:
    """A mark waiting for the audio before it to play (`position_ms` in leg audio)."""

    name: str
    position_ms: float
    epoch: int


class CallLeg(ABC):
    """Sends paced frames to one carrier connection; see the module docstring."""

    def __init__(
        self,
        fmt: MediaFormat,
        *,
        lead_ms: float = 0.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.fmt = fmt
        self.lead_ms = lead_ms
        self._clock = clock
        self._sleep = sleep
        self._pacer = Pacer(fmt.frame_ms, lead_ms, clock)
        self._closed = False
        self._epoch = 0
        self._marks: deque[PendingMark] = deque()
        self._discarded: deque[str] = deque()
        self.frames_sent = 0
        self.frames_dropped = 0
        # Frames one message may carry when several are due at once (see `send_frames`).
        self.max_frames_per_message = 1

    # -- state -----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def played_ms(self) -> float:
        """Audio the listener has heard on this leg, cumulative."""
        return self._pacer.played_ms()

    def buffered_ms(self) -> float:
        """Audio accepted by the leg but not yet played."""
        return self._pacer.buffered_ms()

    def _position_ms(self) -> float:
        """Where the next frame will start, in leg audio (the position a mark gets)."""
        return self._pacer.sent_ms()

    def mark_closed(self) -> None:
        """The far end went away (hang-up, socket closed): stop without sending anything."""
        self._closed = True
        self._epoch += 1

    # -- sending ---------------------------------------------------------------

    def _check_frame(self, frame: bytes) -> None:
        if len(frame) != self.fmt.frame_bytes:
            raise ValueError(f"frame is {len(frame)} bytes, expected {self.fmt.frame_bytes}")

    async def send_frame(self, frame: bytes) -> bool:
        """Send one frame when the pacer allows (back-pressure on the producer).

        Returns False if the frame was dropped because a `clear()` happened while
        it waited, or the leg is closed.
        """
        self._check_frame(frame)
        epoch = self._epoch
        while not self._closed and (delay := self._pacer.delay()) > 0:
            await self._sleep(delay)
            if epoch != self._epoch:
                break
        if self._closed or epoch != self._epoch:
            self.frames_dropped += 1
            return False
        # Count it before the await: a clear() racing the write must discard it.
        self._pacer.sent()
        self.frames_sent += 1
        await self._emit_frame(frame)
        return True

    async def send_frames(self, frames: Sequence[bytes]) -> int:
        """Send `frames[0]` when the pacer allows, with every following frame already due.

        Legs whose wire format carries several frames in one message
        (`max_frames_per_message` > 1) send those together; the others send
        one frame per call. Returns how many frames were sent (0 when a
        `clear()` or a close cut them).
        """
        limit = min(len(frames), self.max_frames_per_message)
        if limit <= 1:
            return 1 if await self.send_frame(frames[0]) else 0
        for frame in frames[:limit]:
            self._check_frame(frame)
        epoch = self._epoch
        while not self._closed and (delay := self._pacer.delay()) > 0:
            await self._sleep(delay)
            if epoch != self._epoch:
                break
        if self._closed or epoch != self._epoch:
            self.frames_dropped += 1
            return 0
        count = 0
        while count < limit:
            self._pacer.sent()
            count += 1
            if self._pacer.delay() > 0:
                break  # the next frame is not due yet: it goes on its own beat
        self.frames_sent += count
        await self._emit_frames(frames[:count])
        return count

    async def send_mark(self, name: str) -> bool:
        """Place a mark after every frame already sent (one per sentence, not per frame)."""
        if self._closed:
            return False
        self._marks.append(PendingMark(name, self._position_ms(), self._epoch))
        await self._emit_mark(name)
        return True

    def pop_played_marks(self) -> list[str]:
        """Marks whose audio has played by this leg's clock (legs without carrier acks)."""
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

    async def clear(self) -> float:
        """Barge-in: drop everything unplayed; return the played position at the cut."""
        self._epoch += 1
        if self._closed:
            return self.played_ms()
        cut = self._pacer.reset()
        self._cut_marks(cut)
        await self._emit_clear()
        return cut

    async def wait_sent(self) -> bool:
        """Wait until every frame accepted so far has left this process.

        Here `send_frame` writes before it returns, so there is nothing to wait
        for; legs with a send queue of their own (AudioSocket's pump) override
        it. `flushed` and `done` are only true once this returns. False if a
        `clear()` or a close dropped frames instead.
        """
        return not self._closed

    async def wait_played(self, position_ms: float | None = None) -> bool:
        """Wait until audio up to `position_ms` (default: all sent) has played.

        False if a `clear()` or a close came first. Use it before hanging up so
        the last sentence is heard.
        """
        target = self._position_ms() if position_ms is None else position_ms
        epoch = self._epoch
        while True:
            if self._closed or epoch != self._epoch:
                return False
            remaining = target - self.played_ms()
            if remaining <= _EPS_MS:
                return True
            await self._sleep(min(remaining, self.fmt.frame_ms) / 1000.0)

    async def hangup(self) -> None:
        """End the call leg from our side (idempotent)."""
        if self._closed:
            return
        self.mark_closed()
        await self._emit_hangup()

    # -- wire hooks ------------------------------------------------------------

    @abstractmethod
    async def _emit_frame(self, frame: bytes) -> None:
        """Write one frame in the carrier's wire format."""

    async def _emit_frames(self, frames: Sequence[bytes]) -> None:
        """Write frames that are due together (legs with multi-frame messages override)."""
        for frame in frames:
            await self._emit_frame(frame)

    async def _emit_mark(self, name: str) -> None:
        """Default: the mark lives only in this leg (see `pop_played_marks`)."""
        return None

    async def _emit_clear(self) -> None:
        """Default: nothing to tell the far end; unsent frames are simply not sent."""
        return None

    async def _emit_hangup(self) -> None:
        """Default: nothing to send; the owner closes the transport."""
        return None
