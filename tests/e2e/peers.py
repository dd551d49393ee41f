"""Fake carriers speaking the real wire protocols: Twilio Media Streams and Asterisk AudioSocket."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import websockets

from telephony.carriers.audiosocket import Audio, AudioSocketParser, Hangup


@dataclass
class TwilioPeer:
    """Twilio's side of a bidirectional stream: sends caller audio every 20 ms, echoes marks."""

    url: str
    stream_sid: str = "MZ" + "1" * 32
    call_sid: str = "CA" + "2" * 32
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    media: list[bytes] = field(default_factory=list)
    media_times: list[float] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)  # marks and clears, in order
    echoed: list[str] = field(default_factory=list)
    ws: Any = None
    close_code: int | None = None  # the close frame the gateway sent, once it has
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _seq: int = 0

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def __aenter__(self) -> TwilioPeer:
        self.ws = await websockets.connect(self.url, additional_headers=self.headers)
        await self.ws.send(
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        )
        await self.ws.send(
            json.dumps(
                {
                    "event": "start",
                    "sequenceNumber": self._next_seq(),
                    "streamSid": self.stream_sid,
                    "start": {
                        "streamSid": self.stream_sid,
                        "accountSid": "AC" + "3" * 32,
                        "callSid": self.call_sid,
                        "tracks": ["inbound"],
                        "customParameters": self.params,
                        "mediaFormat": {
                            "encoding": "audio/x-mulaw",
                            "sampleRate": 8000,
                            "channels": 1,
                        },
                    },
                }
            )
        )
        self._tasks = [asyncio.create_task(self._caller_audio()), asyncio.create_task(self._read())]
        return self

    async def _caller_audio(self) -> None:
        chunk, t0 = 0, time.monotonic()
        payload = base64.b64encode(b"\xff" * 160).decode()
        while True:
            chunk += 1
            await self.ws.send(
                json.dumps(
                    {
                        "event": "media",
                        "sequenceNumber": self._next_seq(),
                        "streamSid": self.stream_sid,
                        "media": {
                            "track": "inbound",
                            "chunk": str(chunk),
                            "timestamp": str(chunk * 20),
                            "payload": payload,
                        },
                    }
                )
            )
            await asyncio.sleep(max(0.0, t0 + chunk * 0.02 - time.monotonic()))

    async def _read(self) -> None:
        """Play media in real time from the first frame; echo each mark once it has played."""
        play_start: float | None = None
        try:
            await self._consume(play_start)
        finally:
            self.close_code = self.ws.close_code

    async def _consume(self, play_start: float | None) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if msg["event"] == "media":
                now = time.monotonic()
                play_start = play_start or now
                self.media.append(base64.b64decode(msg["media"]["payload"]))
                self.media_times.append(now)
            else:
                self.events.append(msg)
                if msg["event"] == "mark":
                    played_at = (play_start or time.monotonic()) + len(self.media) * 0.02
                    self._tasks.append(
                        asyncio.create_task(self._echo(msg["mark"]["name"], played_at))
                    )

    async def _echo(self, name: str, played_at: float) -> None:
        await asyncio.sleep(max(0.0, played_at - time.monotonic()))
        with contextlib.suppress(websockets.ConnectionClosed):
            self.echoed.append(name)
            await self.ws.send(
                json.dumps(
                    {
                        "event": "mark",
                        "sequenceNumber": self._next_seq(),
                        "streamSid": self.stream_sid,
                        "mark": {"name": name},
                    }
                )
            )

    async def dtmf(self, digit: str) -> None:
        await self.ws.send(
            json.dumps(
                {
                    "event": "dtmf",
                    "streamSid": self.stream_sid,
                    "sequenceNumber": self._next_seq(),
                    "dtmf": {"track": "inbound_track", "digit": digit},
                }
            )
        )

    async def stop(self) -> None:
        await self.ws.send(
            json.dumps(
                {
                    "event": "stop",
                    "sequenceNumber": self._next_seq(),
                    "streamSid": self.stream_sid,
                    "stop": {"accountSid": "AC" + "3" * 32, "callSid": self.call_sid},
                }
            )
        )

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.ws.close()


@dataclass
class AsteriskPeer:
    """Asterisk's side of AudioSocket(): UUID first, 20 ms slin frames, reads what we send."""

    port: int
    call_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    frames: list[bytes] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    hung_up_by_server: bool = False
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def __aenter__(self) -> AsteriskPeer:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(b"\x01\x00\x10" + uuid.UUID(self.call_id).bytes)
        await self.writer.drain()
        self._tasks = [asyncio.create_task(self._caller_audio()), asyncio.create_task(self._read())]
        return self

    async def _caller_audio(self) -> None:
        frame = b"\x10" + struct.pack(">H", 320) + b"\x00\x01" * 160
        t0, n = time.monotonic(), 0
        while True:
            n += 1
            self.writer.write(frame)
            await self.writer.drain()
            await asyncio.sleep(max(0.0, t0 + n * 0.02 - time.monotonic()))

    async def _read(self) -> None:
        parser = AudioSocketParser()
        while data := await self.reader.read(4096):
            for msg in parser.feed(data):
                if isinstance(msg, Audio):
                    assert msg.sample_rate == 8000
                    self.frames.append(msg.pcm)
                    self.frame_times.append(time.monotonic())
                elif isinstance(msg, Hangup):
                    self.hung_up_by_server = True
                else:
                    raise AssertionError(f"server sent {msg!r}: only audio or hangup allowed")

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def dtmf(self, digit: str) -> None:
        await self.send(b"\x03\x00\x01" + digit.encode())

    async def hangup(self) -> None:
        for task in self._tasks[:1]:
            task.cancel()
        await self.send(b"\x00\x00\x00")

    def speech_frames(self) -> list[bytes]:
        return [f for f in self.frames if any(f)]

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.writer.close()
