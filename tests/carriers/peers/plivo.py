"""Plivo's side of a bidirectional audio stream (plivo.com/docs, Stream Event Protocol).

In: start (callId, streamId, accountId, tracks, mediaFormat, extra_headers),
media, dtmf, playedStream (a checkpoint reached), clearedAudio. Out (from the
gateway): playAudio, checkpoint, clearAudio. The stream ends with the socket.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any, ClassVar

from . import WsCarrier

CONTENT = {"mulaw": "audio/x-mulaw", "pcm16": "audio/x-l16"}


class Peer(WsCarrier):
    name: ClassVar[str] = "plivo"
    ends_by: ClassVar[str] = "hangup"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream_id = str(uuid.uuid4())
        self._seq = 0
        self._chunk = 0

    @property
    def wire_id(self) -> str | None:
        return self.stream_id

    @property
    def ids(self) -> list[str]:
        return [self.call_id, self.stream_id]

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _extra_headers(self) -> str:
        params = dict(self.params)
        if self.token is not None:
            params["token"] = self.token  # extraHeaders="token=...": only [A-Za-z0-9] allowed
        return ";".join(f"{k}={v}" for k, v in params.items())

    async def connect(self) -> None:
        await self.open()
        await self.send_json(
            {
                "event": "start",
                "sequenceNumber": self._next(),
                "start": {
                    "callId": self.call_id,
                    "streamId": self.stream_id,
                    "accountId": "MAXXXXXXXXXXXXXXXXXX",
                    "tracks": ["inbound"],
                    "mediaFormat": {
                        "encoding": CONTENT[self.fmt.encoding],
                        "sampleRate": self.fmt.sample_rate,
                    },
                },
                "extra_headers": self._extra_headers(),
            }
        )

    async def send_audio(self, payload: bytes) -> None:
        self._chunk += 1
        await self.send_json(
            {
                "event": "media",
                "sequenceNumber": self._next(),
                "streamId": self.stream_id,
                "media": {
                    "track": "inbound",
                    "timestamp": str(1705312200000 + self._chunk * 20),
                    "chunk": self._chunk,
                    "payload": base64.b64encode(payload).decode(),
                },
                "extra_headers": self._extra_headers(),
            }
        )

    async def press(self, digit: str) -> None:
        await self.send_json(
            {
                "event": "dtmf",
                "sequenceNumber": self._next(),
                "streamId": self.stream_id,
                "dtmf": {"digit": digit},
                "extra_headers": self._extra_headers(),
            }
        )

    async def ack_mark(self, name: str) -> None:
        await self.send_json(
            {"event": "playedStream", "sequenceNumber": self._next(),
             "streamId": self.stream_id, "name": name}
        )  # fmt: skip

    async def ack_clear(self) -> None:
        await self.send_json(
            {"event": "clearedAudio", "sequenceNumber": self._next(), "streamId": self.stream_id}
        )

    async def hang_up(self) -> None:
        await self.hang_up_by_closing()

    def handle(self, message: Any) -> None:
        msg = json.loads(message)
        if msg["event"] == "playAudio":
            media = msg["media"]
            assert media["contentType"] == CONTENT[self.fmt.encoding]
            assert media["sampleRate"] == self.fmt.sample_rate
            self.played(base64.b64decode(media["payload"]))
        elif msg["event"] == "checkpoint":
            assert msg["streamId"] == self.stream_id
            self.on_mark(msg["name"])
        elif msg["event"] == "clearAudio":
            assert msg["streamId"] == self.stream_id
            self.on_clear()
        else:
            raise AssertionError(f"Plivo takes no {msg['event']!r}")

    def bad_messages(self) -> list[tuple[str | bytes, str]]:
        sid = self.stream_id
        return [
            ("[1, 2, 3]", "malformed"),
            (json.dumps({"event": "transcript", "streamId": sid}), "unknown_event"),
            (json.dumps({"event": "media", "streamId": sid, "media": {"payload": 5}}), "malformed"),
            (
                json.dumps({"event": "media", "streamId": sid, "media": {"payload": "!!"}}),
                "bad_payload",
            ),
            (json.dumps({"event": "dtmf", "streamId": sid, "dtmf": {"digit": "*#"}}), "malformed"),
            (
                json.dumps({"event": "playedStream", "streamId": "x", "name": "n"}),
                "wrong_stream_id",
            ),
            (b"\xff\xfe", "binary_frame"),
        ]
