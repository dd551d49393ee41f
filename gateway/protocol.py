"""The `/v1/speak` wire protocol: settings, client messages, error codes.

Pure parsing and validation, no I/O: everything a client can send is turned
into a typed value here or rejected with a `ProtocolError` that names the
offending field, so the session code never sees malformed input.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from telephony.carriers import carrier, names
from telephony.media import format_problem
from tts_core.normalize import NormalizeSettingError, parse_setting, setting_text

FORMATS = ("binary", "json", *names())  # every carrier's messages, ready to forward
LOG_CLIP = 200  # characters of client text quoted in an error or a log line


def clip(value: object, limit: int = LOG_CLIP) -> str:
    """`repr(value)` cut to `limit` characters: client text quoted in errors and logs."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ProtocolError(Exception):
    """A client message or setting the gateway cannot accept.

    `fatal` errors end the session (close 1008) because nothing sensible can be
    spoken without them (bad settings, unknown call); the others reject one
    message and the session carries on.
    """

    def __init__(self, code: str, message: str, *, field: str | None = None, fatal: bool = False):
        message = message if len(message) <= 2 * LOG_CLIP else message[: 2 * LOG_CLIP] + "…"
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.fatal = fatal

    def event(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


@dataclass
class SpeakSettings:
    voice: str | None = None
    language: str | None = None
    speed: float = 1.0
    encoding: str = "mulaw"
    sample_rate: int = 8000
    frame_ms: int = 20
    format: str = "binary"
    lead_ms: int = 200
    stream_sid: str | None = None
    call: str | None = None
    session: str | None = None  # attach to a live call by its alias
    normalize: str = "on"  # speakable-text categories: "on", "off" or a list
    listen: bool = True  # attached to a call: receive the caller's audio as binary messages

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SETTING_FIELDS = tuple(SpeakSettings.__dataclass_fields__)


def _bad(field: str, message: str) -> ProtocolError:
    return ProtocolError("invalid_setting", message, field=field, fatal=True)


def _number(field: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool):
        raise _bad(field, f"{field} must be a number")
    if isinstance(value, str):
        try:
            value = float(value) if kind is float else int(value)
        except ValueError as exc:
            raise _bad(field, f"{field} must be a number, not {clip(value, 40)}") from exc
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise _bad(field, f"{field} must be {'an integer' if kind is int else 'a number'}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(field, f"{field} must be finite")
    try:
        return kind(value)
    except OverflowError as exc:  # a 4000-digit integer is valid JSON but no float
        raise _bad(field, f"{field} is out of range") from exc


def _unicode(value: Any) -> bool:
    """A str that can go back out as UTF-8: JSON escapes can smuggle in lone surrogates."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _flag(field: str, value: Any) -> bool:
    """A yes/no setting: JSON true/false, or 1/0/true/false/on/off in a query string."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("1", "true", "on", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("0", "false", "off", "no"):
        return False
    raise _bad(field, f"{field} must be 1 or 0 (true or false)")


def _string(field: str, value: Any, limit: int = 128) -> str:
    if not _unicode(value) or not value or len(value) > limit:
        raise _bad(field, f"{field} must be a non-empty string of at most {limit} characters")
    return value


def parse_settings(
    values: Mapping[str, Any], base: SpeakSettings | None = None, *, ignore: tuple[str, ...] = ()
) -> SpeakSettings:
    """Apply `values` over `base`, rejecting unknown fields and bad values."""
    settings = SpeakSettings(**(base.as_dict() if base else {}))
    for key, value in values.items():
        if key in ignore:
            continue
        if key not in SETTING_FIELDS:
            raise _bad(key[:64], f"unknown setting {clip(key)}; known: {', '.join(SETTING_FIELDS)}")
        if value is None:
            continue
        if key in ("voice", "language", "stream_sid", "call", "session"):
            setattr(settings, key, _string(key, value))
        elif key == "speed":
            settings.speed = _number(key, value, float)
        elif key in ("sample_rate", "frame_ms", "lead_ms"):
            setattr(settings, key, _number(key, value, int))
        elif key in ("encoding", "format"):
            setattr(settings, key, _string(key, value).lower())
        elif key == "listen":
            settings.listen = _flag(key, value)
        elif key == "normalize":
            try:
                settings.normalize = setting_text(parse_setting(value))
            except NormalizeSettingError as exc:
                raise _bad("normalize", str(exc)) from exc
    return check_settings(settings)


def check_settings(s: SpeakSettings) -> SpeakSettings:
    if s.format not in FORMATS:
        raise _bad("format", f"format must be one of {', '.join(FORMATS)}")
    if (problem := format_problem(s.encoding, s.sample_rate, s.frame_ms)) is not None:
        raise _bad(*problem)
    if not 0.5 <= s.speed <= 2.0:
        raise _bad("speed", "speed must be between 0.5 and 2.0")
    if not 0 <= s.lead_ms <= 60_000:
        raise _bad("lead_ms", "lead_ms must be between 0 and 60000")
    if s.call and s.session:
        raise _bad("session", "attach with call (a carrier id) or session (an alias), not both")
    if s.format not in ("binary", "json"):
        codec = carrier(s.format)
        if (problem := codec.media_problem(s.encoding, s.sample_rate)) is not None:
            raise _bad("encoding", problem)
        if codec.needs_stream_id and not s.stream_sid and not s.call and not s.session:
            raise _bad("stream_sid", f"format {s.format} needs the stream_sid to address")
    return s


# -- client messages ---------------------------------------------------------

ClientType = Literal["start", "text", "flush", "clear", "mark", "close", "hangup"]
CLIENT_TYPES: tuple[str, ...] = ("start", "text", "flush", "clear", "mark", "close", "hangup")


@dataclass(frozen=True)
class ClientMessage:
    type: str
    text: str = ""
    name: str = ""
    settings: Mapping[str, Any] | None = None


def parse_client_message(raw: str | bytes, *, max_bytes: int) -> ClientMessage:
    """Decode one WebSocket message from the application."""
    if isinstance(raw, bytes):
        raise ProtocolError("binary_not_allowed", "send JSON text messages, not binary frames")
    if len(raw) > max_bytes:
        raise ProtocolError(
            "message_too_large", f"message of {len(raw)} characters exceeds {max_bytes}"
        )
    try:
        msg = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and integers past Python's digit limit.
        raise ProtocolError("malformed_json", f"not valid JSON: {clip(str(exc))}") from exc
    if not isinstance(msg, dict):
        raise ProtocolError("malformed_message", "a message must be a JSON object")
    kind = msg.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("malformed_message", "a message needs a string 'type'", field="type")
    if kind not in CLIENT_TYPES:
        raise ProtocolError(
            "unknown_type",
            f"unknown type {clip(kind)}; use {', '.join(CLIENT_TYPES)}",
            field="type",
        )
    if kind == "text":
        text = msg.get("text")
        if not _unicode(text):
            raise ProtocolError(
                "invalid_field", "text must be a string of valid Unicode", field="text"
            )
        return ClientMessage("text", text=text)
    if kind == "mark":
        name = msg.get("name")
        if not _unicode(name) or not name or len(name) > 256:
            raise ProtocolError("invalid_field", "mark needs a name (1-256 chars)", field="name")
        return ClientMessage("mark", name=name)
    if kind == "start":
        return ClientMessage("start", settings={k: v for k, v in msg.items() if k != "type"})
    return ClientMessage(kind)
