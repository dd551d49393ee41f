"""Twilio's side of a bidirectional Media Stream.

From twilio.com/docs/voice/media-streams/websocket-messages.

In: connected, start, media (inbound track, 20 ms µ-law), dtmf, mark echoes,
stop. Out (from the gateway): media, mark, clear; the stream ends with the
socket. Marks pending at a `clear` are echoed at once (meaning discarded).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any, ClassVar

from . import WsCarrier

ACCOUNT = "AC" + "3" * 32


class Peer(WsCarrier):
    name: ClassVar[str] = "twilio"
    echoes_marks_on_clear: ClassVar[bool] = True

    @classmethod
    def new_id(cls) -> str:
        return "CA" + uuid.uuid4().hex

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream_sid = "MZ" + self.call_id.removeprefix("CA")
        self._seq = 0
        self._chunk = 0

    @property
    def wire_id(self) -> str | None:
        return self.stream_sid

    @property
    def ids(self) -> list[str]:
        return [self.call_id, self.stream_sid]

    def _next(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def connect(self) -> None:
        await self.open()
        params = dict(self.params)
        if self.token is not None:
            params["token"] = self.token  # <Parameter name="token" value="..."/>
        await self.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self.send_json(
            {
                "event": "start",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "start": {
                    "streamSid": self.stream_sid,
                    "accountSid": ACCOUNT,
                    "callSid": self.call_id,
                    "tracks": ["inbound"],
                    "customParameters": params,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )

    async def send_audio(self, payload: bytes) -> None:
        self._chunk += 1
        await self.send_json(
            {
                "event": "media",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "media": {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str(self._chunk * 20),
                    "payload": base64.b64encode(payload).decode(),
                },
            }
        )

    async def press(self, digit: str) -> None:
        await self.send_json(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "sequenceNumber": self._next(),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def ack_mark(self, name: str) -> None:
        await self.send_json(
            {
                "event": "mark",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    async def hang_up(self) -> None:
        self.stop_audio()
        await self.send_json(
            {
                "event": "stop",
                "sequenceNumber": self._next(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": ACCOUNT, "callSid": self.call_id},
            }
        )

    def handle(self, message: Any) -> None:
        msg = json.loads(message)
        assert msg["streamSid"] == self.stream_sid, msg
        if msg["event"] == "media":
            assert set(msg) == {"event", "streamSid", "media"} and set(msg["media"]) == {"payload"}
            self.played(base64.b64decode(msg["media"]["payload"]))
        elif msg["event"] == "mark":
            self.on_mark(msg["mark"]["name"])
        elif msg["event"] == "clear":
            pending = [m for m in self.marks if m not in self.acked]
            self.on_clear()
            for name in pending:  # Twilio echoes marks still pending at a clear
                self.acked.append(name)
                self._acks.append(self._echo_now(name))
        else:
            raise AssertionError(f"Twilio has no outbound {msg['event']!r}")

    def _echo_now(self, name: str) -> Any:
        return asyncio.ensure_future(self.ack_mark(name))

    def bad_messages(self) -> list[tuple[str | bytes, str]]:
        sid = self.stream_sid
        bad_media = {"chunk": "1", "timestamp": "0", "payload": "**"}
        return [
            ("{not json", "malformed"),
            (json.dumps({"event": "transcript", "streamSid": sid}), "unknown_event"),
            (json.dumps({"event": "media", "streamSid": sid, "media": bad_media}), "bad_payload"),
            (json.dumps({"event": "dtmf", "streamSid": sid, "dtmf": {"digit": "55"}}), "malformed"),
            (
                json.dumps({"event": "mark", "streamSid": "MZother", "mark": {"name": "x"}}),
                "wrong_stream_sid",
            ),
            (b"\x00\x01binary", "binary_frame"),
        ]
