"""Twilio Media Streams (bidirectional), sans-I/O; SignalWire's cXML `<Stream>` speaks the same.

Two layers in one module. `TwilioCodec.receive` turns one WebSocket text
message into Twilio's own typed message (`Start`, `Media`, `Mark`, `Stop`,
...) and tracks the stream's state (connected → start → media/dtmf/mark … →
stop), so a message out of order or for another stream is rejected with a
stable `code` rather than half-processed; counters (`sequenceNumber`, `chunk`,
`timestamp`) arrive as strings and leave as ints; unknown extra fields are
tolerated so Twilio can add some without breaking us. `receive_text` and
`send` are the carrier-codec contract on top (`telephony.carriers.base`):
shared call events in, `media`/`mark`/`clear` messages out.

Twilio buffers what it is sent and plays it in order (over ten minutes
buffered is discarded), so frames go ahead of real time by `lead_ms`, one
20 ms frame per `media` message so that `clear` and marks stay precise; a
mark is echoed when the audio before it has played, or at once after a
`clear` (then meaning "discarded"). Twilio's rule for bad messages (errors
31950/31951) is to report and carry on, so none of these errors is fatal.
Media Streams has no hang-up message: closing the socket ends `<Connect>`.

Error codes: `binary_frame`, `malformed`, `unknown_event`, `out_of_order`,
`wrong_stream_sid`, `bad_payload`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from telephony.carriers.base import (
    PAYLOAD,
    CarrierCodec,
    CarrierProtocolError,
    Wire,
    b64text,
    dump,
    payload_template,
)
from telephony.events import (
    CallerAudio,
    CallEvent,
    CallStarted,
    ClearAudio,
    Command,
    Dtmf,
    HungUp,
    MarkPlayed,
    SendAudio,
    SendMark,
)
from telephony.media import MediaFormat

__all__ = [
    "Connected",
    "Dtmf",
    "Event",
    "Mark",
    "Media",
    "Start",
    "Stop",
    "StreamFormat",
    "TwilioCodec",
    "TwilioProtocolError",
    "clear",
    "mark",
    "media",
]

# Twilio's mediaFormat.encoding, and SignalWire's PCMA, as `telephony.media` encodings.
_ENCODINGS = {"audio/x-mulaw": "mulaw", "audio/x-alaw": "alaw", "audio/pcma": "alaw"}


class TwilioProtocolError(CarrierProtocolError):
    """A Media Streams message we must reject (Twilio's own errors 31950/31951)."""


@dataclass(frozen=True)
class StreamFormat:
    """`start.mediaFormat`: what Twilio sends us (always µ-law 8 kHz mono today)."""

    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1


@dataclass(frozen=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...]
    custom_parameters: dict[str, str] = field(default_factory=dict)
    media_format: StreamFormat = field(default_factory=StreamFormat)
    sequence_number: int | None = None


@dataclass(frozen=True)
class Media:
    stream_sid: str
    track: str
    chunk: int
    timestamp: int
    payload: bytes
    sequence_number: int | None = None


@dataclass(frozen=True)
class Mark:
    """A mark echo: the audio sent before it played, or was discarded by a `clear`."""

    stream_sid: str
    name: str
    sequence_number: int | None = None


@dataclass(frozen=True)
class Stop:
    stream_sid: str
    account_sid: str | None = None
    call_sid: str | None = None
    sequence_number: int | None = None


Event = Connected | Start | Media | Dtmf | Mark | Stop

_NEW, _CONNECTED, _STARTED, _STOPPED = "new", "connected", "started", "stopped"


def _err(code: str, message: str) -> TwilioProtocolError:
    return TwilioProtocolError(code, message)


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise _err("malformed", f"{key!r} must be an object")
    return value


def _str(parent: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = parent.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _err("malformed", f"{key!r} must be a string")
    return value


def _req_str(parent: dict[str, Any], key: str) -> str:
    value = _str(parent, key)
    assert value is not None
    return value


def _counter(parent: dict[str, Any], key: str, *, optional: bool = False) -> int | None:
    """Twilio sends counters as decimal strings; accept plain ints as well."""
    value = parent.get(key)
    if value is None and optional:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise _err("malformed", f"{key!r} must be a non-negative integer string, got {value!r}")


class TwilioCodec(CarrierCodec):
    """One Media Stream: Twilio's messages parsed, shared call events, outbound messages."""

    name: ClassVar[str] = "twilio"
    playback_acks: ClassVar[bool] = True
    needs_stream_id: ClassVar[bool] = True
    lead_ms: ClassVar[int] = 400  # Twilio buffers: run a little ahead, keep clear and marks precise

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self._state = _NEW
        self.stream_sid: str | None = None
        self._media = media_template("")  # outbound audio's JSON around its payload
        self.start: Start | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], Event]] = {
            "connected": self._on_connected,
            "start": self._on_start,
            "media": self._on_media,
            "dtmf": self._on_dtmf,
            "mark": self._on_mark,
            "stop": self._on_stop,
        }

    @property
    def started(self) -> bool:
        return self._state == _STARTED

    @property
    def stopped(self) -> bool:
        return self._state == _STOPPED

    def receive_bytes(self, data: bytes) -> list[CallEvent]:
        """Binary frames are not part of the protocol (Twilio warning 31950)."""
        raise _err("binary_frame", f"unexpected binary message of {len(data)} bytes")

    def receive_text(self, text: str) -> list[CallEvent]:
        """One message as shared call events (the carrier-codec contract)."""
        event = self.receive(text)
        if isinstance(event, Start):
            assert self.fmt is not None
            self.call = CallStarted(
                event.call_sid,
                ids=(event.stream_sid,),
                params=dict(event.custom_parameters),
                encoding=self.fmt.encoding,
                sample_rate=8000,
                info={"stream_sid": event.stream_sid, "account_sid": event.account_sid},
            )
            return [self.call]
        if isinstance(event, Media):
            if event.track not in ("inbound", "inbound_track"):
                return []
            assert self.fmt is not None
            return [CallerAudio(event.payload, self.fmt.encoding, 8000)]
        if isinstance(event, Mark):
            return [MarkPlayed(event.name)]
        if isinstance(event, Stop):
            return [HungUp("stop")]
        if isinstance(event, Dtmf):
            return [event]
        return []

    def set_stream_id(self, stream_id: str | None) -> None:
        self.stream_sid = stream_id
        self._media = media_template(stream_id or "")

    def send(self, command: Command) -> list[Wire]:
        sid = self.stream_sid or ""
        if isinstance(command, SendAudio):
            head, tail = self._media  # built once per stream, not per 20 ms frame
            return [head + b64text(b"".join(command.frames)) + tail]
        if isinstance(command, SendMark):
            return [mark(sid, command.name)]
        if isinstance(command, ClearAudio):
            return [clear(sid)]
        return []  # EndCall: there is no hang-up message; the driver closes the socket

    def receive(self, text: str | bytes) -> Event:
        """Parse one text message into Twilio's own message types, or raise."""
        if isinstance(text, bytes | bytearray | memoryview):
            self.receive_bytes(bytes(text))
        try:
            msg = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise _err("malformed", f"not JSON: {exc}") from None
        if not isinstance(msg, dict):
            raise _err("malformed", "message must be a JSON object")
        event = msg.get("event")
        if not isinstance(event, str):
            raise _err("malformed", "missing 'event'")
        handler = self._handlers.get(event)
        if handler is None:
            raise _err("unknown_event", f"unknown event {event!r}")
        if self._state == _STOPPED:
            raise _err("out_of_order", f"{event!r} after 'stop'")
        return handler(msg)

    def _on_connected(self, msg: dict[str, Any]) -> Connected:
        if self._state != _NEW:
            raise _err("out_of_order", "'connected' must be the first message")
        self._state = _CONNECTED
        return Connected(
            protocol=_str(msg, "protocol", optional=True) or "Call",
            version=_str(msg, "version", optional=True) or "",
        )

    def _on_start(self, msg: dict[str, Any]) -> Start:
        if self._state not in (_NEW, _CONNECTED):
            raise _err("out_of_order", "duplicate 'start'")
        body = _obj(msg, "start")
        sid = _str(body, "streamSid", optional=True) or _req_str(msg, "streamSid")
        outer = _str(msg, "streamSid", optional=True)
        if outer is not None and outer != sid:
            raise _err("wrong_stream_sid", f"start.streamSid {sid!r} != streamSid {outer!r}")
        tracks = body.get("tracks", ["inbound"])
        if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
            raise _err("malformed", "'tracks' must be a list of strings")
        params = body.get("customParameters") or {}
        if not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in params.items()
        ):
            raise _err("malformed", "'customParameters' must map strings to strings")
        fmt = StreamFormat()
        if "mediaFormat" in body:
            mf = _obj(body, "mediaFormat")
            fmt = StreamFormat(
                encoding=_str(mf, "encoding", optional=True) or fmt.encoding,
                sample_rate=_counter(mf, "sampleRate", optional=True) or fmt.sample_rate,
                channels=_counter(mf, "channels", optional=True) or fmt.channels,
            )
        start = Start(
            stream_sid=sid,
            call_sid=_req_str(body, "callSid"),
            account_sid=_req_str(body, "accountSid"),
            tracks=tuple(tracks),
            custom_parameters=dict(params),
            media_format=fmt,
            sequence_number=_counter(msg, "sequenceNumber", optional=True),
        )
        self._state = _STARTED
        self.fmt = MediaFormat(_ENCODINGS.get(fmt.encoding.lower(), "mulaw"), 8000, 20)
        self.set_stream_id(sid)
        self.start = start
        return start

    def _started_sid(self, msg: dict[str, Any]) -> str:
        event = msg["event"]
        if self._state != _STARTED:
            raise _err("out_of_order", f"{event!r} before 'start'")
        sid = _req_str(msg, "streamSid")
        if sid != self.stream_sid:
            raise _err("wrong_stream_sid", f"{event!r} for stream {sid!r}, not {self.stream_sid!r}")
        return sid

    def _on_media(self, msg: dict[str, Any]) -> Media:
        sid = self._started_sid(msg)
        body = _obj(msg, "media")
        raw = _req_str(body, "payload")
        try:
            payload = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _err("bad_payload", f"media payload is not base64: {exc}") from None
        chunk = _counter(body, "chunk")
        timestamp = _counter(body, "timestamp")
        assert chunk is not None and timestamp is not None
        return Media(
            stream_sid=sid,
            track=_str(body, "track", optional=True) or "inbound",
            chunk=chunk,
            timestamp=timestamp,
            payload=payload,
            sequence_number=_counter(msg, "sequenceNumber", optional=True),
        )

    def _on_dtmf(self, msg: dict[str, Any]) -> Dtmf:
        self._started_sid(msg)
        body = _obj(msg, "dtmf")
        digit = _req_str(body, "digit")
        if len(digit) != 1 or digit not in "0123456789*#ABCDabcd":
            raise _err("malformed", f"bad DTMF digit {digit!r}")
        return Dtmf(digit.upper())

    def _on_mark(self, msg: dict[str, Any]) -> Mark:
        sid = self._started_sid(msg)
        body = _obj(msg, "mark")
        return Mark(
            stream_sid=sid,
            name=_req_str(body, "name"),
            sequence_number=_counter(msg, "sequenceNumber", optional=True),
        )

    def _on_stop(self, msg: dict[str, Any]) -> Stop:
        sid = self._started_sid(msg)
        body = msg.get("stop") or {}
        if not isinstance(body, dict):
            raise _err("malformed", "'stop' must be an object")
        self._state = _STOPPED
        return Stop(
            stream_sid=sid,
            account_sid=_str(body, "accountSid", optional=True),
            call_sid=_str(body, "callSid", optional=True),
            sequence_number=_counter(msg, "sequenceNumber", optional=True),
        )

    @staticmethod
    def media(stream_sid: str, mulaw: bytes) -> str:
        return media(stream_sid, mulaw)

    @staticmethod
    def mark(stream_sid: str, name: str) -> str:
        return mark(stream_sid, name)

    @staticmethod
    def clear(stream_sid: str) -> str:
        return clear(stream_sid)


def media(stream_sid: str, mulaw: bytes) -> str:
    """Outbound audio: raw µ-law 8 kHz (no WAV header), any length, base64."""
    head, tail = media_template(stream_sid)
    return head + b64text(mulaw) + tail


def media_template(stream_sid: str) -> tuple[str, str]:
    """A `media` message's text before and after its payload (see `payload_template`)."""
    return payload_template(
        {"event": "media", "streamSid": stream_sid, "media": {"payload": PAYLOAD}}
    )


def mark(stream_sid: str, name: str) -> str:
    """Twilio echoes this once the audio sent before it has played (or was cleared)."""
    return dump({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear(stream_sid: str) -> str:
    """Empty Twilio's playback buffer now (barge-in); pending marks get echoed."""
    return dump({"event": "clear", "streamSid": stream_sid})
