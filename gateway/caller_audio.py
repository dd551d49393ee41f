"""Caller audio to an attached application: converted at once, sent from a task of its own.

The carrier's read loop hands every chunk of caller audio to the call; the
feed converts it (`telephony.listen`) to the application session's own
encoding, rate and frame size right there (a few microseconds for 20 ms) and
queues the frames; a task of its own sends them as binary messages, one per
frame. So a slow application never holds up the carrier's socket: when it
falls more than `max_queued_ms` behind, the oldest frames are dropped and
counted (`voxgate_caller_audio_dropped_frames`), and speech-to-text gets the
present instead of an ever-growing past.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from telephony.events import CallerAudio
from telephony.listen import CallerAudioStream
from telephony.media import MediaFormat

from .metrics import Metrics

log = logging.getLogger(__name__)

MAX_QUEUED_MS = 2000


class CallerAudioFeed:
    """One attached application's caller audio (see the module docstring)."""

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        fmt: MediaFormat,
        metrics: Metrics | None = None,
        *,
        max_queued_ms: int = MAX_QUEUED_MS,
    ) -> None:
        self.fmt = fmt
        self._send = send
        self._metrics = metrics
        self._stream = CallerAudioStream(fmt)
        self._queue: deque[bytes] = deque()
        self._max = max(1, max_queued_ms // fmt.frame_ms)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.frames_sent = 0
        self.frames_dropped = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="caller-audio")

    def hear(self, audio: CallerAudio) -> None:
        """Convert and queue one chunk from the carrier; never waits."""
        if self._task is None or self._task.done():
            return
        for frame in self._stream.feed(audio.payload, audio.encoding, audio.sample_rate):
            if len(self._queue) >= self._max:
                self._queue.popleft()
                self.frames_dropped += 1
                if self._metrics is not None:
                    self._metrics.caller_audio_dropped.inc()
            self._queue.append(frame)
        if self._queue:
            self._wake.set()

    async def _run(self) -> None:
        try:
            while True:
                while not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                await self._send(self._queue.popleft())
                self.frames_sent += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the application went away; the call goes on
            log.debug("caller audio stopped: %r", exc)

    def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        self._queue.clear()

    async def aclose(self) -> None:
        task = self._task
        self.close()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
