"""Asterisk's chan_websocket (`Dial(WebSocket/<connection>/c(ulaw))`), sans-I/O.

Asterisk connects (its websocket_client.conf entry, subprotocol `media`) and
sends, as TEXT, `MEDIA_START` with the connection id, channel, channel id,
the negotiated `format` and `optimal_frame_size`; media flows as BINARY
messages of raw codec bytes both ways. Asterisk re-frames and re-times what
it is sent (queue of about 1000 frames; `MEDIA_XOFF` at 900, `MEDIA_XON` at
800), so it is fed ahead of real time in whole multiples of
`optimal_frame_size` and under 65,500 bytes a message (a larger one hangs the
call up). Commands: `MARK_MEDIA <id>` (answered by `MEDIA_MARK_PROCESSED
<id>` when the frames queued before it have been played out: our marks),
`FLUSH_MEDIA` (barge-in; queued marks are dropped with the media) and
`HANGUP`. Notifications besides: `DTMF_END`, `MEDIA_BUFFERING_COMPLETED`,
`QUEUE_DRAINED`, `STATUS`, `ERROR`.

Control messages come in two forms, plain text (`DTMF_END digit:5
channel_id:…`) and JSON (`{"event":"DTMF_END","digit":"5",...}`; Asterisk
20.18, 22.8, 23.2 and later, `control_message_format = json`). The form of
`MEDIA_START` says which one this channel uses, and commands are written in
the same form. Formats served: ulaw, alaw, slin (8 kHz), slin16, slin24.
"""

from __future__ import annotations

from typing import Any, ClassVar

from telephony.carriers.base import (
    CarrierCodec,
    Wire,
    digit,
    dump,
    err,
    load_object,
    number,
    opt_str,
    string_map,
)
from telephony.events import (
    CallerAudio,
    CallEvent,
    CallStarted,
    ClearAudio,
    Command,
    Dtmf,
    EndCall,
    FlowControl,
    MarkPlayed,
    SendAudio,
    SendMark,
)
from telephony.media import MediaFormat

__all__ = ["AsteriskWebSocketCodec", "plain_fields"]

MAX_MESSAGE_BYTES = 65_500  # chan_websocket closes the socket and hangs up beyond this
FORMATS = {
    "ulaw": ("mulaw", 8000),
    "alaw": ("alaw", 8000),
    "slin": ("pcm16", 8000),
    "slin16": ("pcm16", 16000),
    "slin24": ("pcm16", 24000),
}
IGNORED = frozenset({"MEDIA_BUFFERING_COMPLETED", "QUEUE_DRAINED", "STATUS"})


def plain_fields(words: list[str]) -> dict[str, str]:
    """`key:value` words of a plain-text notification (values never hold spaces)."""
    fields: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition(":")
        if sep and key:
            fields[key] = value
    return fields


class AsteriskWebSocketCodec(CarrierCodec):
    """One chan_websocket channel (see the module docstring)."""

    name: ClassVar[str] = "asterisk"
    media_options: ClassVar[dict[str, tuple[int, ...]]] = {
        "mulaw": (8000,),
        "alaw": (8000,),
        "pcm16": (8000, 16000, 24000),
    }
    playback_acks: ClassVar[bool] = True
    subprotocols: ClassVar[tuple[str, ...]] = ("media",)

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.json_control = True  # until MEDIA_START says otherwise (and for app outputs)

    def _set_format(self, fmt: MediaFormat) -> None:
        self.fmt = fmt
        self.max_frames_per_message = max(1, min(50, MAX_MESSAGE_BYTES // fmt.frame_bytes))

    @classmethod
    def for_output(cls, fmt: MediaFormat, stream_id: str | None = None) -> CarrierCodec:
        codec = super().for_output(fmt, stream_id)
        assert isinstance(codec, AsteriskWebSocketCodec)
        codec._set_format(fmt)
        return codec

    # -- inbound -------------------------------------------------------------------

    def receive_text(self, text: str) -> list[CallEvent]:
        stripped = text.strip()
        if stripped.startswith("{"):
            msg = load_object(stripped)
            event = opt_str(msg, "event") or ""
            fields = {k: v for k, v in msg.items() if k != "event"}
            json_form = True
        else:
            words = stripped.split()
            if not words:
                raise err("malformed", "empty control message")
            event, fields, json_form = words[0], {}, False
            if event in ("MEDIA_MARK_PROCESSED", "MEDIA_BUFFERING_COMPLETED"):
                fields = {"correlation_id": words[1]} if len(words) > 1 else {}
            else:
                fields = plain_fields(words[1:])
        if event == "MEDIA_START":
            return [self._start(fields, json_form)]
        if self.call is None:
            raise err("out_of_order", f"{event[:40]!r} before MEDIA_START")
        if event == "DTMF_END":
            return [Dtmf(digit(fields.get("digit")))]
        if event == "MEDIA_MARK_PROCESSED":
            name = fields.get("correlation_id")
            return [MarkPlayed(name)] if isinstance(name, str) and name else []
        if event in ("MEDIA_XOFF", "MEDIA_XON"):
            return [FlowControl(paused=event == "MEDIA_XOFF")]
        if event in IGNORED:
            return []
        if event == "ERROR":
            raise err("carrier_reported", str(fields.get("error_text", ""))[:200])
        raise err("unknown_event", f"unknown notification {event[:40]!r}")

    def _start(self, fields: dict[str, Any], json_form: bool) -> CallStarted:
        if self.call is not None:
            raise err("out_of_order", "duplicate MEDIA_START")
        self.json_control = json_form
        name = opt_str(fields, "format") or ""
        if name not in FORMATS:
            raise err(
                "unsupported_codec", f"format {name[:20]!r}: use ulaw, alaw or slin", fatal=True
            )
        encoding, rate = FORMATS[name]
        ptime = number(fields, "ptime", 20)
        try:
            fmt = MediaFormat(encoding, rate, ptime)
        except ValueError:
            raise err("unsupported_codec", f"ptime {ptime}", fatal=True) from None
        optimal = number(fields, "optimal_frame_size", fmt.frame_bytes)
        if optimal != fmt.frame_bytes:
            raise err("bad_frame_size", f"{optimal} bytes, not {fmt.frame_bytes}", fatal=True)
        self._set_format(fmt)
        connection = opt_str(fields, "connection_id")
        channel_id = opt_str(fields, "channel_id") or connection
        if not channel_id:
            raise err("malformed", "MEDIA_START names no channel_id or connection_id", fatal=True)
        variables = fields.get("channel_variables")
        params = string_map(variables, "channel_variables") if isinstance(variables, dict) else {}
        info = {k: v for k in ("channel", "connection_id") if (v := opt_str(fields, k))}
        self.call = CallStarted(
            channel_id,
            ids=tuple(i for i in (connection,) if i and i != channel_id),
            params=params,
            encoding=encoding,
            sample_rate=rate,
            info=info,
        )
        return self.call

    def receive_bytes(self, data: bytes) -> list[CallEvent]:
        if self.call is None or self.fmt is None:
            raise err("out_of_order", "media before MEDIA_START")
        if self.fmt.encoding == "pcm16" and len(data) % 2:
            raise err("bad_payload", f"slin of odd length {len(data)}")
        return [CallerAudio(bytes(data), self.fmt.encoding, self.fmt.sample_rate)]

    # -- outbound ------------------------------------------------------------------

    def _command(self, command: str, correlation_id: str | None = None) -> str:
        if self.json_control:
            body: dict[str, str] = {"command": command}
            if correlation_id is not None:
                body["correlation_id"] = correlation_id
            return dump(body)
        return command if correlation_id is None else f"{command} {correlation_id}"

    def send(self, command: Command) -> list[Wire]:
        if isinstance(command, SendAudio):
            return [b"".join(command.frames)]  # whole frames: a multiple of optimal_frame_size
        if isinstance(command, SendMark):
            return [self._command("MARK_MEDIA", command.name)]
        if isinstance(command, ClearAudio):
            return [self._command("FLUSH_MEDIA")]
        if isinstance(command, EndCall):
            return [self._command("HANGUP")]
        return []
