"""Vonage Voice API WebSockets (an NCCO `connect` to a `websocket` endpoint), sans-I/O.

Vonage opens the socket and its first message is text: `websocket:connected`
with `content-type` `audio/l16;rate=8000` or `;rate=16000` and, alongside,
the endpoint's `headers` from the NCCO (where the call's `uuid` and any
parameters travel: the answer webhook knows the uuid and puts it there).
Audio then flows as binary messages both ways: 16-bit little-endian linear
PCM, exactly 20 ms each (320 or 640 bytes). Text events: `websocket:dtmf`
(`digit` at the top level, or in `dtmf`), `websocket:notify` (the
`{"action":"notify"}` we sent after some audio has been reached: our marks),
`websocket:cleared` (after our `{"action":"clear"}`). Vonage buffers about a
minute of audio and plays it in order, so it is fed ahead of real time; the
call ends for the stream when Vonage closes the socket, and our hang-up is
closing it.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from telephony.carriers.base import (
    CarrierCodec,
    Wire,
    dtmf_event,
    dump,
    err,
    opt_str,
    read_event,
    string_map,
)
from telephony.events import (
    CallerAudio,
    CallEvent,
    CallStarted,
    ClearAudio,
    Cleared,
    Command,
    MarkPlayed,
    SendAudio,
    SendMark,
)
from telephony.media import MediaFormat

__all__ = ["VonageCodec"]

_CONTENT_TYPE = re.compile(r"\s*audio/l16\s*;\s*rate\s*=\s*(\d+)\s*$", re.IGNORECASE)
_NOT_PARAMS = frozenset({"event", "content-type", "headers"})
MARK_KEY = "voxgate_mark"


class VonageCodec(CarrierCodec):
    """One Vonage WebSocket leg (see the module docstring)."""

    name: ClassVar[str] = "vonage"
    media_options: ClassVar[dict[str, tuple[int, ...]]] = {"pcm16": (8000, 16000)}
    playback_acks: ClassVar[bool] = True

    def receive_text(self, text: str) -> list[CallEvent]:
        msg, event = read_event(text)
        if event == "websocket:connected":
            return [self._connected(msg)]
        if self.call is None:
            raise err("out_of_order", f"{event!r} before 'websocket:connected'")
        if event == "websocket:dtmf":
            return [dtmf_event(msg)]
        if event == "websocket:notify":
            payload = msg.get("payload")
            name = payload.get(MARK_KEY) if isinstance(payload, dict) else None
            return [MarkPlayed(name)] if isinstance(name, str) else []  # not one of ours
        if event == "websocket:cleared":
            return [Cleared()]
        raise err("unknown_event", f"unknown event {event[:40]!r}")

    def _connected(self, msg: dict[str, Any]) -> CallStarted:
        if self.call is not None:
            raise err("out_of_order", "duplicate 'websocket:connected'")
        content = opt_str(msg, "content-type") or ""
        match = _CONTENT_TYPE.match(content)
        if match is None or int(match[1]) not in (8000, 16000):
            raise err("unsupported_codec", f"content-type {content[:60]!r}", fatal=True)
        rate = int(match[1])
        # The NCCO's headers: at the top level (as Vonage sends them) or under `headers`.
        # Values that are not plain strings or numbers are no parameters of ours.
        nested = msg.get("headers") if isinstance(msg.get("headers"), dict) else {}
        top = {
            k: v
            for k, v in {**msg, **nested}.items()
            if k not in _NOT_PARAMS and isinstance(v, str | int | float) and not isinstance(v, bool)
        }
        params = string_map(top, "headers")
        call_id = params.pop("uuid", "")
        if not call_id:
            raise err("missing_uuid", "no call uuid in the connect headers", fatal=True)
        self.fmt = MediaFormat("pcm16", rate, 20)
        conversation = params.get("conversation_uuid")
        self.call = CallStarted(
            call_id,
            ids=(conversation,) if conversation else (),
            params=params,
            encoding="pcm16",
            sample_rate=rate,
        )
        return self.call

    def receive_bytes(self, data: bytes) -> list[CallEvent]:
        if self.call is None or self.fmt is None:
            raise err("out_of_order", "audio before 'websocket:connected'")
        if len(data) % 2:
            raise err("bad_payload", f"16-bit audio of odd length {len(data)}")
        return [CallerAudio(bytes(data), "pcm16", self.fmt.sample_rate)]

    def send(self, command: Command) -> list[Wire]:
        if isinstance(command, SendAudio):
            return list(command.frames)  # one binary message per 20 ms frame
        if isinstance(command, SendMark):
            return [dump({"action": "notify", "payload": {MARK_KEY: command.name}})]
        if isinstance(command, ClearAudio):
            return [dump({"action": "clear"})]
        return []  # EndCall: closing the socket ends the WebSocket leg
