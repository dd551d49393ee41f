"""The contract every carrier codec keeps, and the parsing helpers the JSON carriers share.

A codec is sans-I/O in the manner of h11: `receive_text`/`receive_bytes` take
what arrived on the wire and return shared call events (`telephony.events`);
`send` takes an outbound command and returns the messages to write. The codec
never touches a socket, a clock or the gateway, so every carrier is tested by
feeding it its documented messages. Around that the class declares, as data,
what a driver must know to run it: its transport, the subprotocols and token
headers its peer uses, which outbound encodings and rates it carries, and its
pacing (carriers that buffer get frames ahead of real time; one that plays
each frame as it arrives gets a real-time pump).

Bad input raises `CarrierProtocolError` with a stable `code` (`malformed`,
`unknown_event`, `out_of_order`, `bad_payload`, `binary_frame`, ...); `fatal`
says whether the call can go on after it (a framing error on a byte stream
cannot; a malformed JSON message can, as Twilio's own rules say).
"""

from __future__ import annotations

import base64
import binascii
import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from typing import Any, ClassVar, Literal

from telephony.errors import ProtocolError
from telephony.events import DTMF_DIGITS, CallEvent, CallStarted, Command, Dtmf, HungUp
from telephony.legs.pacing import Pacing, SendAhead
from telephony.media import MediaFormat

__all__ = [
    "CarrierCodec",
    "CarrierProtocolError",
    "Wire",
    "b64",
    "digit",
    "dump",
    "load_object",
    "obj",
    "opt_str",
    "req_str",
    "string_map",
]

Wire = str | bytes


class CarrierProtocolError(ProtocolError):
    """A carrier message we must reject; `fatal` ends the call (see the module docstring)."""

    def __init__(self, code: str, message: str, *, fatal: bool = False) -> None:
        super().__init__(code, message)
        self.fatal = fatal
        self.events: list[CallEvent] = []  # what the same input held before the bad part


def err(code: str, message: str, *, fatal: bool = False) -> CarrierProtocolError:
    return CarrierProtocolError(code, message, fatal=fatal)


class CarrierCodec(ABC):
    """One call's codec for one carrier; class attributes describe how to drive it."""

    name: ClassVar[str]
    transport: ClassVar[Literal["websocket", "tcp"]] = "websocket"
    # Outbound encodings this carrier's wire takes, with their sample rates.
    media_options: ClassVar[dict[str, tuple[int, ...]]] = {"mulaw": (8000,)}
    lead_ms: ClassVar[int] = 400  # how far ahead of real time a buffering carrier is fed
    playback_acks: ClassVar[bool] = False  # the carrier reports marks as played
    needs_stream_id: ClassVar[bool] = False  # its outbound messages name a stream id
    subprotocols: ClassVar[tuple[str, ...]] = ()  # WebSocket subprotocols its peer offers
    token_headers: ClassVar[tuple[str, ...]] = ()  # headers that may carry the shared secret

    def __init__(self, options: Mapping[str, str] | None = None) -> None:
        """`options` are the leg URL's query parameters (a carrier may read its codec there)."""
        self.options: Mapping[str, str] = options or {}
        self.fmt: MediaFormat | None = None  # the outbound wire format, once known
        self.call: CallStarted | None = None
        self.max_frames_per_message = 1

    # -- describing ----------------------------------------------------------------

    @classmethod
    def media_problem(cls, encoding: object, sample_rate: object) -> str | None:
        """Why this carrier's wire cannot carry `encoding` at `sample_rate`, or None."""
        rates = cls.media_options.get(str(encoding)) if isinstance(encoding, str) else None
        if rates is not None and not isinstance(sample_rate, bool) and sample_rate in rates:
            return None
        parts = [
            f"{enc} at {' or '.join(str(r) for r in rs)} Hz"
            for enc, rs in cls.media_options.items()
        ]
        carried = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
        return f"format {cls.name} carries {carried}"

    @classmethod
    def for_output(cls, fmt: MediaFormat, stream_id: str | None = None) -> CarrierCodec:
        """A codec that only sends, for an application that owns the carrier socket itself."""
        if (problem := cls.media_problem(fmt.encoding, fmt.sample_rate)) is not None:
            raise ValueError(problem)
        codec = cls()
        codec.fmt = fmt
        codec.set_stream_id(stream_id)
        return codec

    def set_stream_id(self, stream_id: str | None) -> None:
        """Carriers whose messages name their stream keep it here (see `for_output`)."""
        return None

    def pacing(self) -> Pacing:
        """How frames leave for this carrier: by default, ahead of real time by `lead_ms`."""
        return SendAhead(self.lead_ms)

    @property
    def started(self) -> bool:
        return self.call is not None

    # -- inbound -------------------------------------------------------------------

    def receive_text(self, text: str) -> list[CallEvent]:
        raise err("text_frame", f"unexpected text message of {len(text)} characters")

    def receive_bytes(self, data: bytes) -> list[CallEvent]:
        raise err("binary_frame", f"unexpected binary message of {len(data)} bytes")

    def receive_eof(self) -> list[CallEvent]:
        """The transport closed: for most carriers that is how a call ends."""
        return [HungUp("hangup")]

    # -- outbound ------------------------------------------------------------------

    @abstractmethod
    def send(self, command: Command) -> list[Wire]:
        """The messages that carry `command` on this carrier's wire (maybe none)."""


# -- helpers for the JSON carriers ---------------------------------------------------


def load_object(text: str | bytes) -> dict[str, Any]:
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise err("malformed", f"not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise err("malformed", "message must be a JSON object")
    return msg


def dump(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def obj(parent: dict[str, Any], key: str, *, optional: bool = False) -> dict[str, Any]:
    value = parent.get(key)
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise err("malformed", f"{key!r} must be an object")
    return value


def opt_str(parent: dict[str, Any], key: str) -> str | None:
    """A string field, or None when absent; numbers are accepted as their decimal text."""
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise err("malformed", f"{key!r} must be a string")
    return str(value)


def req_str(parent: dict[str, Any], key: str) -> str:
    value = opt_str(parent, key)
    if not value:
        raise err("malformed", f"missing {key!r}")
    return value


def number(parent: dict[str, Any], key: str, default: int) -> int:
    """A non-negative integer that carriers send as a number or as decimal text."""
    value = parent.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise err("malformed", f"{key!r} must be a non-negative integer, got {value!r}")


def b64(raw: object) -> bytes:
    if not isinstance(raw, str):
        raise err("malformed", "payload must be a base64 string")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise err("bad_payload", f"payload is not base64: {exc}") from None


def b64text(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def digit(raw: object) -> str:
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise err("malformed", "DTMF digit must be a string")
    text = str(raw).upper()
    if len(text) != 1 or text not in DTMF_DIGITS:
        raise err("malformed", f"bad DTMF digit {text[:8]!r}")
    return text


def string_map(value: object, what: str) -> dict[str, str]:
    """Custom parameters: an object of strings (numbers are taken as their text)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise err("malformed", f"{what!r} must be an object")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, str | int | float):
            raise err("malformed", f"{what!r} must map strings to strings")
        out[k] = str(v)
    return out


def swap16(data: bytes) -> bytes:
    """Big-endian 16-bit samples (RTP's L16) to little-endian, or back."""
    if len(data) % 2:
        raise err("bad_payload", f"16-bit audio has an odd length {len(data)}")
    swapped = bytearray(data)
    swapped[0::2], swapped[1::2] = data[1::2], data[0::2]
    return bytes(swapped)


def read_event(text: str, *, stopped: bool = False) -> tuple[dict[str, Any], str]:
    """A JSON carrier's message and its `event` name; nothing is read after its `stop`."""
    msg = load_object(text)
    event = msg.get("event")
    if not isinstance(event, str):
        raise err("malformed", "missing 'event'")
    if stopped:
        raise err("out_of_order", f"{event!r} after 'stop'")
    return msg, event


def check_stream(
    codec: CarrierCodec,
    msg: dict[str, Any],
    event: str,
    known: Collection[str],
    *,
    key: str,
    stream: str | None,
    code: str,
) -> None:
    """Refuse an unknown event, one before `start`, or one naming another stream."""
    if event not in known:
        raise err("unknown_event", f"unknown event {event[:40]!r}")
    if codec.call is None:
        raise err("out_of_order", f"{event!r} before 'start'")
    sid = opt_str(msg, key)
    if sid is not None and sid != stream:
        raise err(code, f"{event!r} for stream {sid[:64]!r}")


def dtmf_event(msg: dict[str, Any]) -> Dtmf:
    """A digit sent as `{"dtmf": {"digit": ...}}` or as a top-level `digit`."""
    body = msg.get("dtmf")
    return Dtmf(digit(body.get("digit") if isinstance(body, dict) else msg.get("digit")))


def other_ids(call_id: str, *ids: str | None) -> tuple[str, ...]:
    """The ids a call may also be attached by: present, and not its carrier id again."""
    return tuple(i for i in ids if i and i != call_id)


PAYLOAD = "\x00"  # stands for the base64 payload in `payload_template`


def payload_template(message: dict[str, Any]) -> tuple[str, str]:
    """The message's JSON before and after its `PAYLOAD`, to splice base64 audio between.

    Outbound audio is one message per 20 ms frame; serializing the same
    envelope each time was half of a leg's CPU per frame. Base64 needs no JSON
    escaping, so `head + b64text(audio) + tail` is exactly `dump()` of the message.
    """
    head, sep, tail = dump(message).rpartition('"\\u0000"')
    if not sep:
        raise ValueError("no PAYLOAD in the message")
    return head + '"', '"' + tail
