"""Plivo Audio Streams, bidirectional (`<Stream bidirectional="true">`), sans-I/O.

Plivo opens the socket to the `<Stream>` URL and sends `start` (`callId`,
`streamId`, `accountId`, `tracks`, `mediaFormat`; the XML's `extraHeaders`
as `extra_headers`), then `media` (base64, inbound track), `dtmf`,
`playedStream` (a `checkpoint` we sent has been reached: everything queued
before it played) and `clearedAudio` (our `clearAudio` emptied its queue).
We send `playAudio` (`contentType` audio/x-mulaw at 8 kHz or audio/x-l16 at
8 or 16 kHz, `sampleRate`, base64 `payload`), `checkpoint` and `clearAudio`,
which name the stream. The stream's `contentType` sets the format both ways;
L16 is 16-bit little-endian.

`extra_headers` is a string of `key=value` pairs (`userId=1;sessionId=abc`,
or comma-separated as the XML attribute is written; some accounts send a
JSON object); they become the call's parameters. The stream ends with the
socket (`stop` is accepted too, should Plivo send one).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, ClassVar

from telephony.carriers.base import (
    PAYLOAD,
    CarrierCodec,
    Wire,
    b64,
    b64text,
    check_stream,
    dtmf_event,
    dump,
    err,
    number,
    obj,
    opt_str,
    other_ids,
    payload_template,
    read_event,
    req_str,
    string_map,
)
from telephony.events import (
    CallerAudio,
    CallEvent,
    CallStarted,
    ClearAudio,
    Cleared,
    Command,
    HungUp,
    MarkPlayed,
    SendAudio,
    SendMark,
)
from telephony.media import MediaFormat

__all__ = ["PlivoCodec", "extra_headers"]

CONTENT_TYPES = {"audio/x-mulaw": "mulaw", "audio/x-l16": "pcm16"}
_PAIRS = re.compile(r"[;,]")


@lru_cache(maxsize=8)
def _play(encoding: str, rate: int) -> tuple[str, str]:
    content = "audio/x-mulaw" if encoding == "mulaw" else "audio/x-l16"
    media = {"contentType": content, "sampleRate": rate, "payload": PAYLOAD}
    return payload_template({"event": "playAudio", "media": media})


def extra_headers(raw: object) -> dict[str, str]:
    """The `extra_headers` field as parameters (see the module docstring)."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return string_map(raw, "extra_headers")
    if not isinstance(raw, str):
        raise err("malformed", "'extra_headers' must be a string")
    if raw.lstrip().startswith("{"):
        try:
            return string_map(json.loads(raw), "extra_headers")
        except ValueError:
            raise err("malformed", "'extra_headers' is not a JSON object") from None
    params: dict[str, str] = {}
    for pair in _PAIRS.split(raw):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            params[key.strip()] = value.strip()
    return params


class PlivoCodec(CarrierCodec):
    """One Plivo audio stream (see the module docstring)."""

    name: ClassVar[str] = "plivo"
    media_options: ClassVar[dict[str, tuple[int, ...]]] = {
        "mulaw": (8000,),
        "pcm16": (8000, 16000),
    }
    playback_acks: ClassVar[bool] = True
    needs_stream_id: ClassVar[bool] = True

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.stream_id: str | None = None
        self._stopped = False

    def set_stream_id(self, stream_id: str | None) -> None:
        self.stream_id = stream_id

    def receive_text(self, text: str) -> list[CallEvent]:
        msg, event = read_event(text, stopped=self._stopped)
        if event == "start":
            return [self._start(msg)]
        check_stream(
            self,
            msg,
            event,
            ("media", "dtmf", "playedStream", "clearedAudio", "stop"),
            key="streamId",
            stream=self.stream_id,
            code="wrong_stream_id",
        )
        if event == "media":
            body = obj(msg, "media")
            if (opt_str(body, "track") or "inbound") != "inbound":
                return []
            assert self.fmt is not None
            return [CallerAudio(b64(body.get("payload")), self.fmt.encoding, self.fmt.sample_rate)]
        if event == "dtmf":
            return [dtmf_event(msg)]
        if event == "playedStream":
            return [MarkPlayed(req_str(msg, "name"))]
        if event == "clearedAudio":
            return [Cleared()]
        self._stopped = True
        return [HungUp("stop")]

    def _start(self, msg: dict[str, Any]) -> CallStarted:
        if self.call is not None:
            raise err("out_of_order", "duplicate 'start'")
        body = obj(msg, "start")
        fmt = obj(body, "mediaFormat")
        content = req_str(fmt, "encoding").split(";")[0].strip().lower()
        encoding = CONTENT_TYPES.get(content)
        rate = number(fmt, "sampleRate", 8000)
        if encoding is None or rate not in self.media_options[encoding]:
            raise err("unsupported_codec", f"{content} at {rate} Hz", fatal=True)
        self.fmt = MediaFormat(encoding, rate, 20)
        self.stream_id = req_str(body, "streamId")
        call_id = req_str(body, "callId")
        params = extra_headers(msg.get("extra_headers", body.get("extra_headers")))
        info = {"stream_id": self.stream_id}
        if (account := opt_str(body, "accountId")) is not None:
            info["account_id"] = account
        self.call = CallStarted(
            call_id,
            ids=other_ids(call_id, self.stream_id),
            params=params,
            encoding=encoding,
            sample_rate=rate,
            info=info,
        )
        return self.call

    def send(self, command: Command) -> list[Wire]:
        if isinstance(command, SendAudio):
            assert self.fmt is not None
            head, tail = _play(self.fmt.encoding, self.fmt.sample_rate)
            return [head + b64text(b"".join(command.frames)) + tail]
        if isinstance(command, SendMark):
            return [dump({"event": "checkpoint", "streamId": self.stream_id, "name": command.name})]
        if isinstance(command, ClearAudio):
            return [dump({"event": "clearAudio", "streamId": self.stream_id})]
        return []  # EndCall: the stream ends with the socket
