"""A fake vLLM-Omni speech server, built from its documented request and response.

`POST /v1/audio/speech` with `{"model", "input", "voice", "response_format": "pcm",
"stream": true, "language", "speed"}` answers with raw 16-bit 24 kHz PCM, sent
in chunks as it "renders" (odd-sized on purpose, so a sample is split across
two chunks); errors come back as `{"error": {"message", "type", "code"}}`.
Each instance can be told to misbehave: stall before the first byte, die in
the middle of a sentence, or answer 500. It records what it was sent, the peak
of concurrent requests, and which client ports (connections) it saw.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

RATE = 24000
VOICES = ("vivian", "ryan", "alloy")
CHUNK_BYTES = 4801  # odd: a sample straddles every chunk boundary


def pcm_for(text: str) -> np.ndarray:
    """Deterministic speech-like audio for `text`: 60 ms per character, a tone per word."""
    samples = max(1, int(len(text) * 0.06 * RATE))
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    t = np.arange(samples) / RATE
    tone = 200 + seed % 300
    return (np.sin(2 * np.pi * tone * t) * 8000).astype(np.int16)


@dataclass
class Behaviour:
    mode: str = "ok"  # ok | stall | die | fail
    stall_s: float = 5.0
    chunk_delay_s: float = 0.01
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)
    in_flight: int = 0
    peak: int = 0


def error(status: int, message: str, kind: str = "BadRequestError") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status)


def make_app(b: Behaviour) -> Starlette:
    async def speech(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return error(400, "body is not JSON")
        b.requests.append(body)
        b.headers.append(dict(request.headers))
        if request.client:
            b.ports.add(request.client.port)
        if not isinstance(body.get("input"), str) or not body["input"]:
            return error(400, "input is required")
        if body.get("voice") not in VOICES:
            return error(400, f"Invalid voice {body.get('voice')!r}")
        if body.get("response_format") != "pcm" or body.get("stream") is not True:
            return error(400, "streaming needs response_format pcm")
        if b.mode == "fail":
            return error(500, "engine dead", "InternalServerError")
        audio = pcm_for(body["input"]).tobytes()

        async def chunks() -> AsyncIterator[bytes]:
            b.in_flight += 1
            b.peak = max(b.peak, b.in_flight)
            try:
                if b.mode == "stall":
                    await asyncio.sleep(b.stall_s)
                for start in range(0, len(audio), CHUNK_BYTES):
                    if b.mode == "die" and start >= len(audio) // 2:
                        raise RuntimeError("upstream died mid-sentence")
                    yield audio[start : start + CHUNK_BYTES]
                    await asyncio.sleep(b.chunk_delay_s)
            finally:
                b.in_flight -= 1

        return StreamingResponse(chunks(), media_type="audio/pcm")

    return Starlette(routes=[Route("/v1/audio/speech", speech, methods=["POST"])])


@dataclass
class Running:
    url: str  # base URL, ending in /v1
    behaviour: Behaviour
    server: Any


@contextmanager
def fake_upstream(behaviour: Behaviour | None = None) -> Iterator[Running]:
    b = behaviour or Behaviour()
    config = uvicorn.Config(make_app(b), host="127.0.0.1", port=0, log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake upstream did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Running(f"http://127.0.0.1:{port}/v1", b, server)
    finally:
        server.should_exit = True
        thread.join(10)


def dead_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
