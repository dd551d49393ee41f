"""The Asterisk AudioSocket call leg: real-time pacing by a pump, silence while idle.

Asterisk has no jitter buffer on AudioSocket: each frame read is written to the
channel at once, so the server must pace in real time. A pump task writes one
frame every `frame_ms` on the pacer's deadline clock, taking speech from a
short queue or, when there is none, a silence frame, because Asterisk hangs
up a socket that goes quiet for two seconds. The producer's `send_frame` only
enqueues, waiting while the queue is full (back-pressure). Barge-in empties
the queue, so at most the frame already written is heard. There are no acks:
the played position is the pump's own clock.

Inbound bytes (caller audio, DTMF, hang-up) go through `handle_inbound` or the
`consume` read loop; caller audio is discarded unless `on_audio` is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from telephony.audiosocket import (
    Audio,
    AudioSocketParser,
    Error,
    Hangup,
    Message,
    encode_audio,
    encode_hangup,
)
from telephony.legs.base import CallLeg, Clock, Sleep
from telephony.media import MediaFormat, carrier_problem

__all__ = ["AudioSocketLeg"]

log = logging.getLogger(__name__)


class AudioSocketLeg(CallLeg):
    """slin16 frames (8 or 16 kHz) as AudioSocket audio messages on one TCP stream."""

    def __init__(
        self,
        send_bytes: Callable[[bytes], Awaitable[None]],
        sample_rate: int = 8000,
        *,
        frame_ms: int = 20,
        queue_ms: int = 100,
        on_audio: Callable[[Audio], None] | None = None,
        parser: AudioSocketParser | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if (problem := carrier_problem("audiosocket", "pcm16", sample_rate)) is not None:
            raise ValueError(f"{problem}, not {sample_rate}")
        super().__init__(MediaFormat("pcm16", sample_rate, frame_ms), clock=clock, sleep=sleep)
        self._send_bytes = send_bytes
        self._on_audio = on_audio
        self.parser = parser or AudioSocketParser()
        self._queue: deque[bytes] = deque()
        self._max_queue = max(1, queue_ms // frame_ms)
        self._room = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._accepted_ms = 0.0
        self._written_ms = 0.0
        self._last_was_speech = False
        self._task: asyncio.Task[None] | None = None
        self.silence_frames = 0
        self.inbound_audio_bytes = 0
        # When the caller's audio last arrived (the leg's clock); a call is "silent" when
        # no audio comes, whatever else (DTMF, unknown kinds) still does.
        self.last_audio_at = clock()
        self.error: BaseException | None = None

    # -- positions ---------------------------------------------------------------

    def _position_ms(self) -> float:
        return self._accepted_ms

    def played_ms(self) -> float:
        """Speech written, less the part of the last frame still playing."""
        in_flight = self._pacer.buffered_ms() if self._last_was_speech else 0.0
        return max(0.0, self._written_ms - in_flight)

    def buffered_ms(self) -> float:
        return self._accepted_ms - self.played_ms()

    def unsent_ms(self) -> float:
        """Audio accepted into the send queue and not yet written to the socket."""
        return self._accepted_ms - self._written_ms

    # -- producer side -----------------------------------------------------------

    async def send_frame(self, frame: bytes) -> bool:
        """Queue one frame for the pump; waits while the queue is full."""
        self._check_frame(frame)
        epoch = self._epoch
        while not self._closed and epoch == self._epoch and len(self._queue) >= self._max_queue:
            self._room.clear()
            await self._room.wait()
        if self._closed or epoch != self._epoch:
            self.frames_dropped += 1
            return False
        self._queue.append(frame)
        self._empty.clear()
        self._accepted_ms += self.fmt.frame_ms
        return True

    async def wait_sent(self) -> bool:
        """Wait until the pump has written every queued frame (not just accepted it)."""
        epoch = self._epoch
        while self._queue and not self._closed and epoch == self._epoch:
            await self._empty.wait()
        return not self._closed and epoch == self._epoch

    async def clear(self) -> float:
        """Drop queued speech; the frame already written still plays (< one frame).

        Returns the position the listener will have heard, that frame included.
        """
        self._epoch += 1
        self.frames_dropped += len(self._queue)
        self._queue.clear()
        self._accepted_ms = self._written_ms
        self._cut_marks(self._written_ms)
        self._room.set()
        self._empty.set()
        return self._written_ms

    def mark_closed(self) -> None:
        super().mark_closed()
        self._room.set()
        self._empty.set()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def hangup(self) -> None:
        """Send hangup (0x00) and stop the pump; queued audio is not played."""
        if self._closed:
            return
        self.mark_closed()
        await self.stop()
        await self._send_bytes(encode_hangup())

    # -- the pump -----------------------------------------------------------------

    def start(self) -> None:
        """Start pacing: from now on a frame leaves every `frame_ms`, speech or silence."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="audiosocket-pump")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """The pump loop; `start()` runs it as a task, or await it directly."""
        silence = self.fmt.silence_frame
        try:
            while not self._closed:
                delay = self._pacer.delay()
                if delay > 0:
                    await self._sleep(delay)
                    continue
                speech = bool(self._queue)
                frame = self._queue.popleft() if speech else silence
                self._pacer.sent()
                self._last_was_speech = speech
                if speech:
                    self._written_ms += self.fmt.frame_ms
                    self.frames_sent += 1
                    self._room.set()
                else:
                    self.silence_frames += 1
                await self._emit_frame(frame)
                if speech and not self._queue:
                    self._empty.set()  # after the write: `wait_sent` means "left this process"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket went away: the call is over
            log.info("AudioSocket write failed, closing leg: %r", exc)
            self.error = exc
            self.mark_closed()

    async def _emit_frame(self, frame: bytes) -> None:
        """Only the pump writes, speech or silence, so frames keep the 20 ms beat."""
        await self._send_bytes(encode_audio(frame, self.fmt.sample_rate))

    # -- inbound --------------------------------------------------------------------

    def handle_inbound(self, data: bytes) -> list[Message]:
        """Parse caller bytes; hand audio on, close on hangup/error; return all messages."""
        messages = self.parser.feed(data)
        for msg in messages:
            if isinstance(msg, Audio):
                self.inbound_audio_bytes += len(msg.pcm)
                self.last_audio_at = self._clock()
                if self._on_audio is not None:
                    self._on_audio(msg)
            elif isinstance(msg, Hangup | Error):
                self.mark_closed()
        return messages

    feed_inbound = handle_inbound

    async def consume(
        self,
        read: Callable[[int], Awaitable[bytes]],
        on_message: Callable[[Message], None] | None = None,
    ) -> None:
        """Read the socket until EOF or hang-up so Asterisk never blocks writing to us."""
        while not self._closed:
            data = await read(65536)
            if not data:
                self.mark_closed()
                self.parser.eof()
                return
            for msg in self.handle_inbound(data):
                if on_message is not None:
                    on_message(msg)
