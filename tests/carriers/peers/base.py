"""What every fake carrier shares: caller audio in real time, playout, acks, a transcript.

A fake carrier plays the carrier's side of one leg against the real gateway.
Each carrier module (`tests/carriers/peers/<name>.py`) writes its messages as
the carrier's docs show them, in and out; this base class runs the call: it
sends a steady tone as caller audio every `chunk_ms` (as carriers do, even
for a quiet caller), plays what the gateway sends in real time from the first
frame, and acknowledges each mark once the audio before it has played, the
way the carrier does.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from telephony.media import MediaFormat

TONE_HZ = 440.0


def tone(fmt: MediaFormat, ms: int, start_sample: int = 0, amplitude: int = 8000) -> bytes:
    """`ms` of a steady tone in `fmt`'s encoding (the caller's voice, for these tests)."""
    n = fmt.sample_rate * ms // 1000
    t = (np.arange(n) + start_sample) / fmt.sample_rate
    pcm = (amplitude * np.sin(2 * math.pi * TONE_HZ * t)).astype("<i2")
    return fmt.encode(pcm.tobytes())


class FakeCarrier(ABC):
    """One fake leg; `async with` opens it and starts the caller's audio."""

    name: ClassVar[str]
    transport: ClassVar[str] = "websocket"
    chunk_ms: ClassVar[int] = 20
    ends_by: ClassVar[str] = "stop"  # the reason a call ended by the carrier reports
    hangs_up_by: ClassVar[str] = "close"  # how the gateway's hang-up shows: "close" or "hangup"
    has_params: ClassVar[bool] = True  # the carrier passes custom parameters in-band
    acks_marks: ClassVar[bool] = True  # the carrier reports playback of marks
    echoes_marks_on_clear: ClassVar[bool] = False  # pending marks come back at a clear

    def __init__(
        self,
        server: Any,
        call_id: str,
        *,
        params: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        token: str | None = None,
        fmt: MediaFormat | None = None,
    ) -> None:
        self.server = server
        self.call_id = call_id
        self.params = params or {}
        self.query = query or {}
        self.token = token
        self.fmt = fmt or self.default_format()
        self.audio = bytearray()  # what the gateway sent to play, in the wire's encoding
        self.kinds: list[str] = []  # "audio", "mark", "clear", "hangup", ... in order
        self.marks: list[str] = []
        self.acked: list[str] = []
        self.hung_up_by_gateway = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.caller_chunks_sent = 0
        self.audio_at_clear: int | None = None
        self.loud_at: float | None = None  # when the first loud chunk went out (latency probe)
        self._play_start: float | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._acks: list[asyncio.Task[Any]] = []
        self._silent = False
        self._quiet_until_loud = False

    # -- what each carrier writes -------------------------------------------------

    @classmethod
    def default_format(cls) -> MediaFormat:
        return MediaFormat("mulaw", 8000, 20)

    @classmethod
    def new_id(cls) -> str:
        return str(uuid.uuid4())

    @property
    def ids(self) -> list[str]:
        """Every id the gateway must know this call by."""
        return [self.call_id]

    @property
    def wire_id(self) -> str | None:
        """The stream id the carrier's outbound messages name, for those that name one."""
        return None

    @abstractmethod
    async def connect(self) -> None:
        """Open the transport and announce the call, as the carrier does."""

    @abstractmethod
    async def send_audio(self, payload: bytes) -> None:
        """One chunk of caller audio in the wire's encoding."""

    @abstractmethod
    async def press(self, digit: str) -> None: ...

    @abstractmethod
    async def hang_up(self) -> None:
        """End the call from the carrier's side."""

    @abstractmethod
    async def receive(self) -> Any:
        """The next message from the gateway (raises when the transport is closed)."""

    @abstractmethod
    def handle(self, message: Any) -> None:
        """One message from the gateway: call `played`, `on_mark`, `on_clear`, `on_hangup`."""

    async def ack_mark(self, name: str) -> None:  # noqa: B027
        """Report that mark `name` has played (carriers without acks send nothing)."""

    async def ack_clear(self) -> None:  # noqa: B027
        """Confirm a clear, for carriers that do."""

    async def close_transport(self) -> None:  # noqa: B027
        """Close the connection at the end of a test."""

    def bad_messages(self) -> list[tuple[str | bytes, str]]:
        """Bad input this carrier could send, with the protocol error code each is counted as."""
        return []

    # -- shared behaviour -----------------------------------------------------------

    def played(self, payload: bytes) -> None:
        now = time.monotonic()
        if self._play_start is None or self.played_ms() < (now - self._play_start) * 1000:
            # Ran dry (or first audio): playback restarts now, like a carrier's buffer does.
            self._play_start = now - self.played_ms() / 1000
        self.audio += payload
        self.kinds.append("audio")

    def played_ms(self) -> float:
        return self.fmt.bytes_to_ms(len(self.audio))

    def on_mark(self, name: str) -> None:
        self.kinds.append("mark")
        self.marks.append(name)
        if not self.acks_marks:
            return
        start = self._play_start or time.monotonic()
        due = start + self.played_ms() / 1000
        self._acks.append(asyncio.ensure_future(self._ack_later(name, due)))

    async def _ack_later(self, name: str, due: float) -> None:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        self.acked.append(name)
        with contextlib.suppress(Exception):
            await self.ack_mark(name)

    def on_clear(self) -> None:
        self.kinds.append("clear")
        if self.audio_at_clear is None:
            self.audio_at_clear = len(self.audio)
        pending = [t for t in self._acks if not t.done()]
        for task in pending:
            task.cancel()
        self._acks = []
        self._play_start = None  # what was buffered is gone; playback restarts with new audio
        self._acks.append(asyncio.ensure_future(self._after_clear()))

    async def _after_clear(self) -> None:
        with contextlib.suppress(Exception):
            await self.ack_clear()

    def on_hangup(self) -> None:
        self.kinds.append("hangup")
        self.hung_up_by_gateway.set()

    def speech(self) -> bytes:
        """The played audio without the silence a pump or a padded chunk adds."""
        silence = self.fmt.silence_byte
        return bytes(self.audio).strip(bytes([silence]))

    async def _read(self) -> None:
        try:
            while True:
                self.handle(await self.receive())
        except Exception:
            pass
        finally:
            self.closed.set()

    async def _caller(self) -> None:
        sample = 0
        t0 = time.monotonic()
        n = 0
        samples = self.fmt.sample_rate * self.chunk_ms // 1000
        while True:
            n += 1
            if self._silent:
                pass
            elif self._quiet_until_loud:
                await self.send_audio(self.fmt.silence_frame * (self.chunk_ms // self.fmt.frame_ms))
            else:
                if self.loud_at is None:
                    self.loud_at = time.monotonic()
                await self.send_audio(tone(self.fmt, self.chunk_ms, sample))
            sample += samples
            self.caller_chunks_sent += 1
            await asyncio.sleep(max(0.0, t0 + n * self.chunk_ms / 1000 - time.monotonic()))

    def quiet(self) -> None:
        """Send silence as caller audio until `speak_up` (for the latency probe)."""
        self._quiet_until_loud = True
        self.loud_at = None

    def speak_up(self) -> None:
        self._quiet_until_loud = False

    def stop_audio(self) -> None:
        """Stop sending caller audio at all (a dead peer)."""
        self._silent = True

    async def __aenter__(self) -> FakeCarrier:
        await self.connect()
        self._tasks = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._caller())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in [*self._tasks, *self._acks]:
            task.cancel()
        for task in [*self._tasks, *self._acks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.close_transport()
