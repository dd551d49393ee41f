"""How frames leave a call leg: the two pacing strategies a carrier chooses between.

`SendAhead` is for carriers that buffer what they are sent and play it in
order (Twilio, Telnyx, Plivo, Vonage, Exotel, Asterisk's chan_websocket): a
frame leaves once the unplayed backlog is within `lead_ms`, written by the
producer itself, so a slow synthesis step is ridden out without gaps and a
barge-in costs nothing because the carrier is told to clear its buffer. It
honours carrier flow control (`pause`/`resume`, chan_websocket's
MEDIA_XOFF/XON) by holding frames back.

`RealTimePump` is for a carrier that writes each frame to the call the moment
it arrives, with no jitter buffer (Asterisk AudioSocket): a pump task writes
one frame every `frame_ms` on the deadline clock, speech from a short queue or
silence when there is none (AudioSocket hangs up a socket that goes quiet for
two seconds). The producer only enqueues and waits while the queue is full;
a barge-in empties the queue, so at most the frame already written is heard,
and the played position is the pump's own clock.

A strategy is bound to one `CallLeg` and does the timing only: the wire
format, marks and hang-up belong to the leg and its codec.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from telephony.pacer import Pacer

if TYPE_CHECKING:
    from telephony.legs.base import CallLeg

__all__ = ["Pacing", "RealTimePump", "SendAhead"]

log = logging.getLogger(__name__)


class Pacing(ABC):
    """The timing half of a leg: when frames leave, and what has played."""

    lead_ms: float = 0.0

    def bind(self, leg: CallLeg) -> None:
        self.leg = leg

    @abstractmethod
    async def send_frames(self, frames: Sequence[bytes]) -> int:
        """Send `frames[0]` (and any following frames already due); how many were taken."""

    @abstractmethod
    def clear(self) -> float:
        """Drop everything unplayed that this strategy holds; the played position at the cut."""

    @abstractmethod
    def played_ms(self) -> float: ...

    @abstractmethod
    def buffered_ms(self) -> float: ...

    @abstractmethod
    def position_ms(self) -> float:
        """Where the next frame will start, in leg audio (the position a mark gets)."""

    def unsent_ms(self) -> float:
        """Audio accepted from the producer and not yet written to the transport."""
        return 0.0

    def observe_played(self, played_ms: float) -> None:
        """The carrier's own word on the played position (a mark echo)."""
        return None

    def pause(self, paused: bool) -> None:
        """Carrier flow control: hold frames back while `paused`."""
        return None

    async def wait_sent(self, epoch: int) -> bool:
        return not self.leg.closed and epoch == self.leg.epoch

    def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def on_closed(self) -> None:
        return None


class SendAhead(Pacing):
    """Frames leave once the backlog is within `lead_ms` (see the module docstring)."""

    def __init__(self, lead_ms: float = 0.0) -> None:
        self.lead_ms = lead_ms
        self.paused = False

    def bind(self, leg: CallLeg) -> None:
        super().bind(leg)
        self._pacer = Pacer(leg.fmt.frame_ms, self.lead_ms, leg.clock)

    async def send_frames(self, frames: Sequence[bytes]) -> int:
        leg = self.leg
        limit = max(1, min(len(frames), leg.max_frames_per_message))
        for frame in frames[:limit]:
            leg.check_frame(frame)
        epoch = leg.epoch
        while not leg.closed and epoch == leg.epoch:
            if self.paused:  # polled each frame, so a clear or a close is seen at once
                await leg.sleep(leg.fmt.frame_ms / 1000)
            elif (delay := self._pacer.delay()) > 0:
                await leg.sleep(delay)
            else:
                break
        if leg.closed or epoch != leg.epoch:
            leg.frames_dropped += 1
            return 0
        count = 0
        while count < limit:
            # Counted before the await: a clear() racing the write must discard it.
            self._pacer.sent()
            count += 1
            if self._pacer.delay() > 0:
                break  # the next frame is not due yet: it goes on its own beat
        leg.frames_sent += count
        await leg.emit_audio(frames[:count])
        return count

    def clear(self) -> float:
        self.paused = False  # the carrier's queue is empty now: there is room again
        return self._pacer.reset()

    def played_ms(self) -> float:
        return self._pacer.played_ms()

    def buffered_ms(self) -> float:
        return self._pacer.buffered_ms()

    def position_ms(self) -> float:
        return self._pacer.sent_ms()

    def observe_played(self, played_ms: float) -> None:
        self._pacer.observe_played(played_ms)

    def pause(self, paused: bool) -> None:
        self.paused = paused


class RealTimePump(Pacing):
    """One frame every `frame_ms` by a pump task, silence when idle (see the module docstring)."""

    def __init__(self, queue_ms: int = 100) -> None:
        self.queue_ms = queue_ms

    def bind(self, leg: CallLeg) -> None:
        super().bind(leg)
        self._pacer = Pacer(leg.fmt.frame_ms, 0, leg.clock)
        self._queue: deque[bytes] = deque()
        self._max_queue = max(1, self.queue_ms // leg.fmt.frame_ms)
        self._room = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._accepted_ms = 0.0
        self._written_ms = 0.0
        self._last_was_speech = False
        self._task: asyncio.Task[None] | None = None
        self.silence_frames = 0

    # -- positions ---------------------------------------------------------------

    def position_ms(self) -> float:
        return self._accepted_ms

    def played_ms(self) -> float:
        """Speech written, less the part of the last frame still playing."""
        in_flight = self._pacer.buffered_ms() if self._last_was_speech else 0.0
        return max(0.0, self._written_ms - in_flight)

    def buffered_ms(self) -> float:
        return self._accepted_ms - self.played_ms()

    def unsent_ms(self) -> float:
        return self._accepted_ms - self._written_ms

    # -- producer side -----------------------------------------------------------

    async def send_frames(self, frames: Sequence[bytes]) -> int:
        """Queue one frame for the pump; waits while the queue is full."""
        leg = self.leg
        frame = frames[0]
        leg.check_frame(frame)
        epoch = leg.epoch
        while not leg.closed and epoch == leg.epoch and len(self._queue) >= self._max_queue:
            self._room.clear()
            await self._room.wait()
        if leg.closed or epoch != leg.epoch:
            leg.frames_dropped += 1
            return 0
        self._queue.append(frame)
        self._empty.clear()
        self._accepted_ms += leg.fmt.frame_ms
        return 1

    async def wait_sent(self, epoch: int) -> bool:
        """Wait until the pump has written every queued frame (not just accepted it)."""
        leg = self.leg
        while self._queue and not leg.closed and epoch == leg.epoch:
            await self._empty.wait()
        return not leg.closed and epoch == leg.epoch

    def clear(self) -> float:
        """Drop queued speech; the frame already written still plays (< one frame)."""
        self.leg.frames_dropped += len(self._queue)
        self._queue.clear()
        self._accepted_ms = self._written_ms
        self._room.set()
        self._empty.set()
        return self._written_ms

    def on_closed(self) -> None:
        self._room.set()
        self._empty.set()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    # -- the pump -----------------------------------------------------------------

    def start(self) -> None:
        """From now on a frame leaves every `frame_ms`, speech or silence."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="leg-pump")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """The pump loop; `start()` runs it as a task."""
        leg = self.leg
        silence = leg.fmt.silence_frame
        try:
            while not leg.closed:
                delay = self._pacer.delay()
                if delay > 0:
                    await leg.sleep(delay)
                    continue
                speech = bool(self._queue)
                frame = self._queue.popleft() if speech else silence
                self._pacer.sent()
                self._last_was_speech = speech
                if speech:
                    self._written_ms += leg.fmt.frame_ms
                    leg.frames_sent += 1
                    self._room.set()
                else:
                    self.silence_frames += 1
                await leg.emit_audio((frame,))
                if speech and not self._queue:
                    self._empty.set()  # after the write: `wait_sent` means "left this process"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the transport went away: the call is over
            log.info("leg write failed, closing it: %r", exc)
            leg.error = exc
            leg.mark_closed()
