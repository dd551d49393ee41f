"""Asterisk's side of chan_websocket (docs.asterisk.org, WebSocket channel driver).

Asterisk dials out with its websocket_client.conf entry (subprotocol `media`,
basic auth from username/password), sends MEDIA_START, then the channel's
media as binary frames of `optimal_frame_size`, DTMF_END on a key press,
MEDIA_MARK_PROCESSED once the media queued before a MARK_MEDIA has played,
MEDIA_XOFF/MEDIA_XON for flow control. It takes binary media, MARK_MEDIA,
FLUSH_MEDIA (dropping queued marks) and HANGUP. `json_control` picks the
control message form (JSON since 20.18/22.8/23.2, plain text before).
"""

from __future__ import annotations

import base64
import json
import random
from typing import Any, ClassVar

from . import WsCarrier

FORMAT = {("mulaw", 8000): "ulaw", ("alaw", 8000): "alaw", ("pcm16", 8000): "slin",
          ("pcm16", 16000): "slin16"}  # fmt: skip


class Peer(WsCarrier):
    name: ClassVar[str] = "asterisk"
    ends_by: ClassVar[str] = "hangup"
    hangs_up_by: ClassVar[str] = "hangup"
    subprotocols: tuple[str, ...] = ("media",)
    json_control: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection_id = "media_connection1-" + self.call_id[-6:]
        self.channel = f"WebSocket/{self.connection_id}/0x5140001a0040"
        self.commands: list[str] = []

    @classmethod
    def new_id(cls) -> str:
        return f"{random.randint(1_700_000_000, 1_800_000_000)}.{random.randint(1, 999)}"

    @property
    def ids(self) -> list[str]:
        return [self.call_id, self.connection_id]

    def url(self) -> str:
        query = dict(self.query)
        query.update(self.params)  # Dial(...v(session=...,greeting=...)) adds URI parameters
        self.query = query
        return super().url()

    def headers(self) -> dict[str, str]:
        if self.token is None:
            return {}
        basic = base64.b64encode(f"media_username:{self.token}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}

    async def _notify(self, event: str, **fields: Any) -> None:
        if self.json_control:
            await self.send_json({"event": event, "channel_id": self.call_id, **fields})
        else:
            words = [event, *(f"{k}:{v}" for k, v in fields.items())]
            await self.ws.send(" ".join(words))

    async def connect(self) -> None:
        await self.open()
        fields: dict[str, Any] = {
            "connection_id": self.connection_id,
            "channel": self.channel,
            "channel_id": self.call_id,
            "format": FORMAT[(self.fmt.encoding, self.fmt.sample_rate)],
            "optimal_frame_size": self.fmt.frame_bytes,
            "ptime": 20,
        }
        if self.json_control:
            fields["channel_variables"] = {
                "DIALEDPEERNUMBER": f"{self.connection_id}/c(ulaw)",
                "MEDIA_WEBSOCKET_CONNECTION_ID": self.connection_id,
                "MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE": str(self.fmt.frame_bytes),
            }
            await self.send_json({"event": "MEDIA_START", **fields})
        else:
            await self._notify("MEDIA_START", **fields)

    async def send_audio(self, payload: bytes) -> None:
        await self.ws.send(payload)

    async def press(self, digit: str) -> None:
        await self._notify("DTMF_END", digit=digit)

    async def ack_mark(self, name: str) -> None:
        if self.json_control:
            await self._notify("MEDIA_MARK_PROCESSED", correlation_id=name)
        else:
            await self.ws.send(f"MEDIA_MARK_PROCESSED {name}")

    async def xoff(self, paused: bool) -> None:
        await self._notify("MEDIA_XOFF" if paused else "MEDIA_XON")

    async def hang_up(self) -> None:
        await self.hang_up_by_closing()  # the channel hung up: Asterisk closes the socket

    def handle(self, message: Any) -> None:
        if isinstance(message, bytes):
            assert len(message) % self.fmt.frame_bytes == 0 and len(message) < 65_500
            self.played(message)
            return
        if self.json_control:
            msg = json.loads(message)
            command, correlation = msg["command"], msg.get("correlation_id")
        else:
            command, _, correlation = message.partition(" ")
        self.commands.append(command)
        if command == "MARK_MEDIA":
            self.on_mark(correlation)
        elif command == "FLUSH_MEDIA":
            self.on_clear()  # queued marks go with the media: never processed
        elif command == "HANGUP":
            self.on_hangup()
        else:
            raise AssertionError(f"unexpected command {message!r}")

    def bad_messages(self) -> list[tuple[str | bytes, str]]:
        return [
            ('{"event": ', "malformed"),
            (json.dumps({"event": "MEDIA_SOMETHING", "channel_id": self.call_id}), "unknown_event"),
            (
                json.dumps({"event": "DTMF_END", "channel_id": self.call_id, "digit": "?"}),
                "malformed",
            ),
            (
                json.dumps(
                    {
                        "event": "ERROR",
                        "channel_id": self.call_id,
                        "error_text": "Unable to parse JSON command",
                    }
                ),
                "carrier_reported",
            ),
            (
                json.dumps({"event": "MEDIA_START", "format": "ulaw", "channel_id": "x"}),
                "out_of_order",
            ),
        ]


class PlainPeer(Peer):
    """An Asterisk older than 20.18/22.8/23.2, or with control_message_format = plain-text."""

    json_control: ClassVar[bool] = False
