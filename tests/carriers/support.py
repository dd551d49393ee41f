"""The application's side for the carrier tests: an attached `/v1/speak` and `/v1/calls`.

`App` keeps events and caller-audio frames apart (both arrive on one socket)
with their arrival times; `Feed` is a `/v1/calls` subscriber. Both read in a
task of their own, so a test can wait for "the first `dtmf`" while audio keeps
flowing. The expected speech of a sentence is computed from the simulated
engine, so what a fake carrier plays can be compared byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import numpy as np
import websockets

from telephony.media import MediaFormat, UtteranceEncoder
from tts_core import SpeechCore, SynthesisRequest
from tts_core.sim_engine import SimulatedEngine


async def wait_until(predicate: Callable[[], Any], limit_s: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, f"not reached in {limit_s} s: {what}"
        await asyncio.sleep(0.01)


@lru_cache(maxsize=64)
def expected_speech(text: str, fmt: MediaFormat, speed: float = 2.0) -> bytes:
    """The exact bytes the gateway sends for one sentence spoken by the sim engine."""
    engine = SimulatedEngine()
    request = SpeechCore.speakable(SynthesisRequest(text, speed=speed))
    pcm = np.concatenate(list(engine.synthesize(request)))
    encoder = UtteranceEncoder(engine.sample_rate, fmt)
    return b"".join(encoder.feed(pcm) + encoder.finish())


class Reader:
    """A WebSocket read in the background into `events` and `frames`."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.frames: list[tuple[float, bytes]] = []
        self.texts: list[str] = []
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if isinstance(msg, bytes):
                    self.frames.append((time.monotonic(), msg))
                    continue
                body = json.loads(msg)
                if "type" in body:
                    self.events.append(body)
                else:
                    self.texts.append(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    async def first(self, kind: str, limit_s: float = 10.0, **match: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for e in self.of(kind):
                if all(e.get(k) == v for k, v in match.items()):
                    return e
            return None

        await wait_until(lambda: found() is not None or self.closed.is_set(), limit_s, kind)
        event = found()
        assert event is not None, f"no {kind} {match} before the close: {self.events[-5:]}"
        return event

    async def send(self, **body: Any) -> None:
        await self.ws.send(json.dumps(body))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


async def attach(base: str, limit_s: float = 5.0, **query: Any) -> Reader:
    """`/v1/speak` attached to a call, retried while the call is still registering."""
    query.setdefault("speed", 2.0)
    deadline = time.monotonic() + limit_s
    while True:
        ws = await websockets.connect(f"{base}/v1/speak?{urlencode(query)}", max_size=2**22)
        first = json.loads(await ws.recv())
        if first["type"] == "ready":
            app = Reader(ws)
            app.events.append(first)
            return app
        await ws.close()
        assert first["code"] == "unknown_call" and time.monotonic() < deadline, first
        await asyncio.sleep(0.02)


async def feed(base: str, **query: Any) -> Reader:
    """A `/v1/calls` subscriber, once it is subscribed (its `ready` arrived)."""
    suffix = f"?{urlencode(query)}" if query else ""
    reader = Reader(await websockets.connect(f"{base}/v1/calls{suffix}"))
    await reader.first("ready")
    return reader


def metric(running: Any, code: str) -> float:
    value = running.gateway.metrics.registry.get_sample_value(
        "voxgate_errors_total", {"code": code}
    )
    return value or 0.0


def dominant_hz(pcm16: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])
