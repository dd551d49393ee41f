"""Telnyx's side of a bidirectional media stream (developers.telnyx.com, Media Streaming).

In: connected (with the streaming auth token when one is configured), start,
media (inbound track, base64 RTP payload), dtmf, mark callbacks, error, stop.
Out (from the gateway): media, mark, clear. A clear returns queued marks.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any, ClassVar

from telephony.carriers.base import swap16

from . import WsCarrier

CODEC = {"mulaw": "PCMU", "alaw": "PCMA", "pcm16": "L16"}


class Peer(WsCarrier):
    name: ClassVar[str] = "telnyx"
    echoes_marks_on_clear: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream_id = str(uuid.uuid4()).upper()
        self.session_id = str(uuid.uuid4())
        self._seq = 0
        self._chunk = 0

    @classmethod
    def new_id(cls) -> str:
        return "v3:" + base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")

    @property
    def ids(self) -> list[str]:
        return [self.call_id, self.stream_id, self.session_id]

    def headers(self) -> dict[str, str]:
        return {"x-telnyx-streaming-auth-token": self.token} if self.token else {}

    def _wire(self, pcm_or_g711: bytes) -> bytes:
        return swap16(pcm_or_g711) if self.fmt.encoding == "pcm16" else pcm_or_g711

    def _next(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def connect(self) -> None:
        await self.open()
        connected: dict[str, Any] = {"event": "connected", "version": "1.0.0"}
        if self.token:
            connected["x-telnyx-streaming-auth-token"] = self.token
        await self.send_json(connected)
        start = {
            "user_id": "3E6F995F-85F7-4705-9741-53B116D28237",
            "call_control_id": self.call_id,
            "call_session_id": self.session_id,
            "from": self.params.get("from", "+13122010094"),
            "to": self.params.get("to", "+13122123456"),
            "tags": ["TAG1"],
            "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
            "custom_parameters": {k: v for k, v in self.params.items() if k not in ("from", "to")},
            "media_format": {
                "encoding": CODEC[self.fmt.encoding],
                "sample_rate": self.fmt.sample_rate,
                "channels": 1,
            },
        }
        await self.send_json(
            {"event": "start", "sequence_number": self._next(), "stream_id": self.stream_id,
             "start": start}
        )  # fmt: skip

    async def send_audio(self, payload: bytes) -> None:
        self._chunk += 1
        await self.send_json(
            {
                "event": "media",
                "sequence_number": self._next(),
                "media": {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str(self._chunk * 20),
                    "payload": base64.b64encode(self._wire(payload)).decode(),
                },
                "stream_id": self.stream_id,
            }
        )

    async def press(self, digit: str) -> None:
        await self.send_json(
            {"event": "dtmf", "stream_id": self.stream_id, "occurred_at": "2026-01-01T00:00:00Z",
             "sequence_number": self._next(), "dtmf": {"digit": digit}}
        )  # fmt: skip

    async def ack_mark(self, name: str) -> None:
        await self.send_json(
            {"event": "mark", "sequence_number": self._next(), "stream_id": self.stream_id,
             "mark": {"name": name}}
        )  # fmt: skip

    async def hang_up(self) -> None:
        self.stop_audio()
        await self.send_json(
            {"event": "stop", "sequence_number": self._next(), "stream_id": self.stream_id,
             "stop": {"user_id": "3E6F995F", "call_control_id": self.call_id}}
        )  # fmt: skip

    def handle(self, message: Any) -> None:
        msg = json.loads(message)
        if msg["event"] == "media":
            assert set(msg) == {"event", "media"} and set(msg["media"]) == {"payload"}
            self.played(self._wire(base64.b64decode(msg["media"]["payload"])))
        elif msg["event"] == "mark":
            self.on_mark(msg["mark"]["name"])
        elif msg["event"] == "clear":
            pending = [m for m in self.marks if m not in self.acked]
            self.on_clear()
            for name in pending:  # "A clear frame also returns queued marks."
                self.acked.append(name)
                self._acks.append(asyncio.ensure_future(self.ack_mark(name)))
        else:
            raise AssertionError(f"Telnyx takes no {msg['event']!r}")

    def bad_messages(self) -> list[tuple[str | bytes, str]]:
        sid = self.stream_id
        return [
            ("not json at all", "malformed"),
            (json.dumps({"event": "transcription", "stream_id": sid}), "unknown_event"),
            (
                json.dumps({"event": "media", "stream_id": sid, "media": {"payload": "%%"}}),
                "bad_payload",
            ),
            (json.dumps({"event": "dtmf", "stream_id": sid, "dtmf": {"digit": "x"}}), "malformed"),
            (
                json.dumps({"event": "mark", "stream_id": "other", "mark": {"name": "m"}}),
                "wrong_stream_id",
            ),
            (
                json.dumps(
                    {
                        "event": "error",
                        "stream_id": sid,
                        "payload": {
                            "code": 100003,
                            "title": "malformed_frame",
                            "detail": "bad frame",
                        },
                    }
                ),
                "carrier_reported",
            ),
            (b"\x01\x02", "binary_frame"),
        ]
