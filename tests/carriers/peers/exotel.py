"""Exotel's side of a Voicebot (bidirectional) stream (developer.exotel.com, AgentStream).

In: connected, start (stream_sid, call_sid, account_sid, from, to,
custom_parameters, media_format), media (base64 slin, ~100 ms a message),
dtmf, mark (a mark sent to it has played), stop. Out (from the gateway):
media in chunks of 3.2 KB to 100 KB and multiples of 320 bytes, mark, clear.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any, ClassVar

from telephony.media import MediaFormat

from . import WsCarrier


class Peer(WsCarrier):
    name: ClassVar[str] = "exotel"
    chunk_ms: ClassVar[int] = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.chunks: list[int] = []
        self._seq = 0
        self._chunk = 0

    @classmethod
    def default_format(cls) -> MediaFormat:
        return MediaFormat("pcm16", 8000, 20)

    @classmethod
    def new_id(cls) -> str:
        return "CA" + uuid.uuid4().hex

    @property
    def wire_id(self) -> str | None:
        return self.stream_sid

    @property
    def ids(self) -> list[str]:
        return [self.call_id, self.stream_sid]

    def url(self) -> str:
        if self.token is not None:
            self.query = {**self.query, "token": self.token}  # the URL's custom parameters
        return super().url()

    def _next(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def connect(self) -> None:
        await self.open()
        await self.send_json({"event": "connected"})
        await self.send_json(
            {
                "event": "start",
                "sequence_number": self._next(),
                "stream_sid": self.stream_sid,
                "start": {
                    "stream_sid": self.stream_sid,
                    "call_sid": self.call_id,
                    "account_sid": "AC" + "0" * 24,
                    "from": self.params.get("from", "+919876543210"),
                    "to": self.params.get("to", "+918047491899"),
                    "custom_parameters": {
                        k: v for k, v in self.params.items() if k not in ("from", "to")
                    },
                    "media_format": {
                        "encoding": "audio/x-raw",
                        "sample_rate": str(self.fmt.sample_rate),
                        "bit_rate": "16",
                    },
                },
            }
        )

    async def send_audio(self, payload: bytes) -> None:
        self._chunk += 1
        await self.send_json(
            {
                "event": "media",
                "sequence_number": self._next(),
                "stream_sid": self.stream_sid,
                "media": {
                    "chunk": str(self._chunk),
                    "timestamp": str(self._chunk * self.chunk_ms),
                    "payload": base64.b64encode(payload).decode(),
                },
            }
        )

    async def press(self, digit: str) -> None:
        await self.send_json(
            {"event": "dtmf", "sequence_number": self._next(), "stream_sid": self.stream_sid,
             "dtmf": {"digit": digit, "duration": "100"}}
        )  # fmt: skip

    async def ack_mark(self, name: str) -> None:
        await self.send_json(
            {"event": "mark", "sequence_number": self._next(), "stream_sid": self.stream_sid,
             "mark": {"name": name}}
        )  # fmt: skip

    async def hang_up(self) -> None:
        self.stop_audio()
        await self.send_json(
            {"event": "stop", "sequence_number": self._next(), "stream_sid": self.stream_sid,
             "stop": {"call_sid": self.call_id, "account_sid": "AC" + "0" * 24,
                      "reason": "callended"}}
        )  # fmt: skip

    def handle(self, message: Any) -> None:
        msg = json.loads(message)
        assert msg["stream_sid"] == self.stream_sid, msg
        if msg["event"] == "media":
            chunk = base64.b64decode(msg["media"]["payload"])
            assert len(chunk) % 320 == 0 and 3200 <= len(chunk) <= 100_000, len(chunk)
            self.chunks.append(len(chunk))
            self.played(chunk)
        elif msg["event"] == "mark":
            self.on_mark(msg["mark"]["name"])
        elif msg["event"] == "clear":
            self.on_clear()
        else:
            raise AssertionError(f"Exotel takes no {msg['event']!r}")

    def bad_messages(self) -> list[tuple[str | bytes, str]]:
        sid = self.stream_sid
        return [
            ("nope", "malformed"),
            (json.dumps({"event": "transcript", "stream_sid": sid}), "unknown_event"),
            (
                json.dumps({"event": "media", "stream_sid": sid, "media": {"payload": "@@"}}),
                "bad_payload",
            ),
            (
                json.dumps({"event": "dtmf", "stream_sid": sid, "dtmf": {"digit": "10"}}),
                "malformed",
            ),
            (
                json.dumps({"event": "mark", "stream_sid": "MZother", "mark": {"name": "m"}}),
                "wrong_stream_sid",
            ),
            (b"\x00" * 4, "binary_frame"),
        ]
