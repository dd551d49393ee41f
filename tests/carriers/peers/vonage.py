"""Vonage's side of a WebSocket endpoint (developer.vonage.com, WebSockets in the Voice API).

In: the text message `websocket:connected` (content-type audio/l16;rate=16000
and the NCCO's headers, the call uuid among them), then binary 20 ms L16
frames, and `websocket:dtmf`, `websocket:notify`, `websocket:cleared` events.
Out (from the gateway): binary 20 ms frames, `{"action":"notify"}`,
`{"action":"clear"}`. The leg ends with the socket.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

from telephony.media import MediaFormat

from . import WsCarrier


class Peer(WsCarrier):
    name: ClassVar[str] = "vonage"
    ends_by: ClassVar[str] = "hangup"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conversation = "CON-" + str(uuid.uuid4())
        self._notify: dict[str, Any] = {}

    @classmethod
    def default_format(cls) -> MediaFormat:
        return MediaFormat("pcm16", 16000, 20)

    @property
    def ids(self) -> list[str]:
        return [self.call_id, self.conversation]

    async def connect(self) -> None:
        await self.open()
        headers = {"uuid": self.call_id, "conversation_uuid": self.conversation, **self.params}
        if self.token is not None:
            headers["token"] = self.token
        await self.send_json(
            {
                "event": "websocket:connected",
                "content-type": f"audio/l16;rate={self.fmt.sample_rate}",
                **headers,
            }
        )

    async def send_audio(self, payload: bytes) -> None:
        frame = self.fmt.frame_bytes
        for i in range(0, len(payload), frame):
            await self.ws.send(payload[i : i + frame])

    async def press(self, digit: str) -> None:
        await self.send_json({"event": "websocket:dtmf", "digit": digit, "duration": 260})

    async def ack_mark(self, name: str) -> None:
        await self.send_json({"event": "websocket:notify", "payload": self._notify.pop(name)})

    async def ack_clear(self) -> None:
        await self.send_json({"event": "websocket:cleared"})

    async def hang_up(self) -> None:
        await self.hang_up_by_closing()

    def handle(self, message: Any) -> None:
        if isinstance(message, bytes):
            assert len(message) == self.fmt.frame_bytes, len(message)  # exactly 20 ms each
            self.played(message)
            return
        msg = json.loads(message)
        if msg == {"action": "clear"}:
            self.on_clear()
        elif msg.get("action") == "notify":
            (name,) = msg["payload"].values()
            self._notify[name] = msg["payload"]
            self.on_mark(name)
        else:
            raise AssertionError(f"Vonage takes no {msg!r}")

    def bad_messages(self) -> list[tuple[str | bytes, str]]:
        return [
            ("{{", "malformed"),
            (json.dumps({"event": "websocket:unknown"}), "unknown_event"),
            (json.dumps({"event": "websocket:dtmf", "digit": "##"}), "malformed"),
            (
                json.dumps(
                    {
                        "event": "websocket:connected",
                        "content-type": "audio/l16;rate=16000",
                        "uuid": self.call_id,
                    }
                ),
                "out_of_order",
            ),
            (b"\x00\x01\x02", "bad_payload"),
        ]
