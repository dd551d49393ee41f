"""A small `/v1/speak` test client over the real `websockets` library."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import numpy as np
import websockets

from telephony.g711 import alaw_decode, ulaw_decode


@dataclass
class Received:
    events: list[dict[str, Any]] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # raw non-event text messages (twilio, json)
    frame_times: list[float] = field(default_factory=list)
    close_code: int | None = None

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]


def url(base: str, **query: Any) -> str:
    q = {k: v for k, v in query.items() if v is not None}
    return f"{base}/v1/speak" + (f"?{urlencode(q)}" if q else "")


def pieces(text: str, size: int = 4) -> list[str]:
    """Split like an LLM stream: small pieces, spaces kept."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def split_frames(message: bytes, frame_bytes: int | None) -> list[bytes]:
    """The frames of one binary message (several when the gateway runs far ahead)."""
    if not frame_bytes or len(message) % frame_bytes:
        return [message]
    return [message[i : i + frame_bytes] for i in range(0, len(message), frame_bytes)]


async def collect(
    ws: Any, until: str = "done", limit_s: float = 60, frame_bytes: int | None = None
) -> Received:
    """Receive until event `until`; binary messages are split into `frame_bytes` frames
    (taken from a `ready` event when one arrives)."""
    got = Received()
    deadline = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline:
            msg = await asyncio.wait_for(ws.recv(), deadline - time.monotonic())
            if isinstance(msg, bytes):
                now = time.monotonic()
                for frame in split_frames(msg, frame_bytes):
                    got.frames.append(frame)
                    got.frame_times.append(now)
                continue
            body = json.loads(msg)
            if body.get("type") == "ready" and "frames_per_message" in body:
                frame_bytes = body["frame_bytes"] if body["frames_per_message"] > 1 else None
            if "type" in body and body["type"] != "audio":
                got.events.append(body)
                if body["type"] == until:
                    break
            else:
                got.texts.append(msg)
                got.frame_times.append(time.monotonic())
    except websockets.ConnectionClosed as exc:
        got.close_code = exc.rcvd.code if exc.rcvd else None
    return got


async def speak(
    base: str, text_pieces: list[str], *, close: bool = True, **settings: Any
) -> Received:
    settings.setdefault("lead_ms", 60_000)  # unpaced unless a test is about pacing
    async with websockets.connect(url(base, **settings), max_size=2**22) as ws:
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready", ready
        for piece in text_pieces:
            await ws.send(json.dumps({"type": "text", "text": piece}))
        if close:
            await ws.send(json.dumps({"type": "close"}))
        frame_bytes = ready["frame_bytes"] if ready["frames_per_message"] > 1 else None
        got = await collect(ws, frame_bytes=frame_bytes)
        got.events.insert(0, ready)
        return got


def decode(frames: list[bytes], encoding: str) -> np.ndarray:
    data = b"".join(frames)
    if encoding == "mulaw":
        data = ulaw_decode(data)
    elif encoding == "alaw":
        data = alaw_decode(data)
    return np.frombuffer(data, dtype="<i2")
