"""The `/v1/speak` client the scenarios drive: light, one asyncio task per session.

It records, on one clock (`time.perf_counter`), when each text piece left and
when each frame and event arrived, and nothing else: decoding or analysing
audio here would steal CPU from the server on a small machine. Frames are
recognised by shape, not parsed: binary messages (`binary`, `audiosocket`)
and Twilio `media` JSON messages are one frame each.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import websockets

from .listener import Playout, play
from .texts import tokens

_TWILIO_MEDIA = '{"event":"media"'
_TWILIO_OTHER = '{"event":'


async def first_binary_s(ws: Any, *messages: dict[str, Any]) -> float:
    """Seconds from sending `messages` on an open socket to the first binary message back."""
    t0 = time.perf_counter()
    for message in messages:
        await ws.send(json.dumps(message))
    while not isinstance(await ws.recv(), bytes):
        pass
    return time.perf_counter() - t0


@dataclass
class SentenceRecord:
    index: int
    text: str
    event_at: float
    first_frame: int  # index into the session's frame list
    first_frame_at: float | None = None
    end: dict[str, Any] | None = None

    @property
    def released_at(self) -> float | None:
        """When the gateway released this sentence to synthesis, on our clock.

        The gateway reports `ttfa_ms` = first frame sent - release; the frame
        reached us a loopback hop later, so this is early by that hop.
        """
        if self.end is None or self.first_frame_at is None:
            return None
        return self.first_frame_at - self.end["ttfa_ms"] / 1000.0


@dataclass
class SessionLog:
    opened_at: float = 0.0
    ready_at: float = 0.0
    ready: dict[str, Any] = field(default_factory=dict)
    sends: list[tuple[float, int]] = field(default_factory=list)  # (time, chars so far)
    frame_times: list[float] = field(default_factory=list)
    sentences: list[SentenceRecord] = field(default_factory=list)
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    closed_code: int | None = None
    failure: str | None = None

    def playout(self, frame_s: float, lead_s: float) -> Playout:
        """Listener replay; a gap before a sentence released only after it ran dry is excused."""
        starts = {s.first_frame: s for s in self.sentences}

        def excused(i: int, dry_at: float) -> bool:
            sentence = starts.get(i)
            if sentence is None:
                return False  # a gap in the middle of a sentence is always the gateway's
            released = sentence.released_at
            return released is not None and released > dry_at

        return play(self.frame_times, frame_s, lead_s, excused=excused)


class SpeakClient:
    """One `/v1/speak` session: send text on a schedule while a reader task records."""

    def __init__(self, base_ws: str, **query: Any) -> None:
        q = {k: v for k, v in query.items() if v is not None}
        self.url = f"{base_ws}/v1/speak" + (f"?{urlencode(q)}" if q else "")
        self.log = SessionLog()
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self._chars = 0
        self._pending: SentenceRecord | None = None

    async def __aenter__(self) -> SpeakClient:
        self.log.opened_at = time.perf_counter()
        self._ws = await websockets.connect(
            self.url, max_size=2**22, ping_interval=None, open_timeout=30, compression=None
        )
        ready = json.loads(await asyncio.wait_for(self._ws.recv(), 30))
        if ready.get("type") != "ready":
            raise RuntimeError(f"expected ready, got {ready}")
        self.log.ready, self.log.ready_at = ready, time.perf_counter()
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
        if self._ws is not None:
            await self._ws.close()

    # -- reading ----------------------------------------------------------

    def _frame(self, now: float, count: int = 1) -> None:
        log = self.log
        if self._pending is not None:
            self._pending.first_frame_at = now
            self._pending = None
        log.frame_times.extend([now] * count)

    def _frames_in(self, size: int) -> int:
        """Frames in a message: several when the gateway runs far ahead (`frames_per_message`)."""
        frame_bytes = self.log.ready.get("frame_bytes") if self.log.ready else None
        return max(1, size // frame_bytes) if frame_bytes else 1

    def _event(self, now: float, body: dict[str, Any]) -> None:
        kind = body.get("type")
        log = self.log
        if kind == "sentence":
            record = SentenceRecord(body["index"], body.get("text", ""), now, len(log.frame_times))
            log.sentences.append(record)
            self._pending = record
        elif kind == "sentence_end":
            for s in reversed(log.sentences):
                if s.index == body["index"]:
                    s.end = body
                    break
        elif kind == "error":
            log.errors.append(body)
        log.events.append((now, body))
        for fut in self._waiters.pop(str(kind), []):
            if not fut.done():
                fut.set_result(body)

    async def _read(self) -> None:
        ws = self._ws
        try:
            async for msg in ws:
                now = time.perf_counter()
                if isinstance(msg, bytes):
                    self._frame(now, self._frames_in(len(msg)))
                elif msg.startswith(_TWILIO_MEDIA):
                    self._frame(now)
                elif msg.startswith(_TWILIO_OTHER):
                    continue  # Twilio marks: carrier bookkeeping, not audio
                else:
                    body = json.loads(msg)
                    if body.get("type") == "audio":  # format=json frames
                        self._frame(now, self._frames_in(len(body["payload"]) * 3 // 4))
                    else:
                        self._event(now, body)
        except websockets.ConnectionClosed as exc:
            self.log.closed_code = exc.rcvd.code if exc.rcvd else None
        finally:
            for futs in self._waiters.values():
                for fut in futs:
                    if not fut.done():
                        fut.set_exception(ConnectionError("session closed"))
            self._waiters.clear()

    def expect(self, kind: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the next event of `kind` (create it before sending what causes it)."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if self._reader is not None and self._reader.done():
            fut.set_exception(ConnectionError("session closed"))
        else:
            self._waiters.setdefault(kind, []).append(fut)
        return fut

    # -- sending ----------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message, separators=(",", ":")))

    async def text(self, text: str) -> float:
        now = time.perf_counter()
        await self.send({"type": "text", "text": text})
        self._chars += len(text)
        self.log.sends.append((now, self._chars))
        return now

    async def stream(self, text: str, tokens_per_s: float) -> float:
        """Send `text` token by token on a fixed schedule; returns when the first token left."""
        pieces = tokens(text)
        interval = 1.0 / tokens_per_s if tokens_per_s > 0 else 0.0
        start = time.perf_counter()
        first = start
        for n, piece in enumerate(pieces):
            due = start + n * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = await self.text(piece)
            if n == 0:
                first = sent
        return first

    async def flush(self, limit_s: float) -> dict[str, Any]:
        flushed = self.expect("flushed")
        await self.send({"type": "flush"})
        return await asyncio.wait_for(flushed, limit_s)

    async def close_and_wait(self, limit_s: float) -> None:
        """`close`, then wait for `done` (all audio sent) and the close frame."""
        done = self.expect("done")
        await self.send({"type": "close"})
        try:
            await asyncio.wait_for(done, limit_s)
        except (TimeoutError, ConnectionError) as exc:
            self.log.failure = f"no done within {limit_s:.0f} s: {exc!r}"
        if self._reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), 5)
            except (TimeoutError, asyncio.CancelledError):
                pass


class LoopLag:
    """How late this process's own event loop wakes up (client-side noise in every timing).

    A task asks to sleep `interval_s` over and over and records the oversleep.
    Lateness a scenario sees at the client that is not matched here was the
    server's; lateness that is matched may be either's.
    """

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.lag_s: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            self.lag_s.append(max(0.0, time.perf_counter() - t - self.interval_s))

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


def chars_sent_at(log: SessionLog, chars: int) -> float | None:
    """When the piece holding character number `chars` (1-based) left the client."""
    for t, total in log.sends:
        if total >= chars:
            return t
    return None
