"""Telnyx Media Streaming over WebSocket, bidirectional in RTP mode, sans-I/O.

Telnyx opens the socket to `stream_url` (Call Control `streaming_start` or
`answer`/`dial` with `stream_bidirectional_mode: "rtp"`, or TeXML `<Stream
bidirectionalMode="rtp">`) and sends `connected`, then `start` (`stream_id`,
and in `start`: `call_control_id`, `call_session_id`, `from`, `to`,
`custom_parameters`, `client_state`, `media_format`), `media` (base64 RTP
payloads without headers, `track` inbound), `dtmf`, `mark` (the audio before
a mark we sent has played, or a `clear` returned it), `error` (Telnyx
refusing something we sent) and `stop`. We send `media`, `mark` and `clear`.

Codecs: the inbound leg follows the PSTN (PCMU in North America, PCMA in
Europe), announced in `media_format`; what we send must be the
`stream_bidirectional_codec` configured on Telnyx. That setting is not in the
stream's messages, so it is read from the leg URL (`?codec=PCMA&rate=8000`)
and defaults to the inbound codec, which is right whenever the two are
configured alike (A-law end to end on a European leg). L16 travels as RTP
carries it, big-endian; it is swapped here, at the edge, and nowhere else.
A streaming auth token configured on Telnyx arrives as the
`x-telnyx-streaming-auth-token` header and in `connected`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from telephony.carriers.base import (
    CarrierCodec,
    Wire,
    b64,
    b64text,
    digit,
    dump,
    err,
    load_object,
    number,
    obj,
    opt_str,
    req_str,
    string_map,
    swap16,
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

__all__ = ["TelnyxCodec"]

TOKEN_HEADER = "x-telnyx-streaming-auth-token"
# Telnyx codec names -> (telephony.media encoding, whether samples are big-endian L16)
CODECS = {"PCMU": ("mulaw", False), "PCMA": ("alaw", False), "L16": ("pcm16", True)}


def _codec(name: str, rate: int) -> tuple[str, bool, int]:
    found = CODECS.get(name.upper())
    if found is None:
        raise err("unsupported_codec", f"codec {name!r}: use PCMU, PCMA or L16", fatal=True)
    encoding, big_endian = found
    if encoding != "pcm16":
        rate = 8000
    elif rate not in (8000, 16000, 24000):
        raise err("unsupported_codec", f"L16 at {rate} Hz: use 8000, 16000 or 24000", fatal=True)
    return encoding, big_endian, rate


class TelnyxCodec(CarrierCodec):
    """One Telnyx media stream (see the module docstring)."""

    name: ClassVar[str] = "telnyx"
    media_options: ClassVar[dict[str, tuple[int, ...]]] = {
        "mulaw": (8000,),
        "alaw": (8000,),
        "pcm16": (8000, 16000, 24000),
    }
    playback_acks: ClassVar[bool] = True
    token_headers: ClassVar[tuple[str, ...]] = (TOKEN_HEADER,)

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.stream_id: str | None = None
        self._token: str | None = None
        self._stopped = False
        self._in: tuple[str, bool, int] = ("mulaw", False, 8000)
        self._big_endian_out = False

    @classmethod
    def for_output(cls, fmt: MediaFormat, stream_id: str | None = None) -> CarrierCodec:
        codec = super().for_output(fmt, stream_id)
        assert isinstance(codec, TelnyxCodec)
        codec._big_endian_out = fmt.encoding == "pcm16"
        return codec

    def receive_text(self, text: str) -> list[CallEvent]:
        msg = load_object(text)
        event = msg.get("event")
        if not isinstance(event, str):
            raise err("malformed", "missing 'event'")
        if self._stopped:
            raise err("out_of_order", f"{event!r} after 'stop'")
        if event == "connected":
            self._token = opt_str(msg, TOKEN_HEADER)
            return []
        if event == "start":
            return [self._start(msg)]
        if event not in ("media", "dtmf", "mark", "stop", "error"):
            raise err("unknown_event", f"unknown event {event[:40]!r}")
        if self.call is None:
            raise err("out_of_order", f"{event!r} before 'start'")
        sid = opt_str(msg, "stream_id")
        if sid is not None and sid != self.stream_id:
            raise err("wrong_stream_id", f"{event!r} for stream {sid[:64]!r}")
        if event == "media":
            body = obj(msg, "media")
            if (opt_str(body, "track") or "inbound") not in ("inbound", "inbound_track"):
                return []
            payload = b64(body.get("payload"))
            encoding, big_endian, rate = self._in
            return [CallerAudio(swap16(payload) if big_endian else payload, encoding, rate)]
        if event == "dtmf":
            return [Dtmf(digit(obj(msg, "dtmf").get("digit")))]
        if event == "mark":
            return [MarkPlayed(req_str(obj(msg, "mark"), "name"))]
        if event == "error":
            body = obj(msg, "payload", optional=True)
            detail = f"{body.get('code')} {body.get('title')}: {body.get('detail')}"
            raise err("carrier_reported", detail[:200])
        self._stopped = True
        return [HungUp("stop")]

    def _start(self, msg: dict[str, Any]) -> CallStarted:
        if self.call is not None:
            raise err("out_of_order", "duplicate 'start'")
        body = obj(msg, "start")
        self.stream_id = req_str(msg, "stream_id")
        fmt = obj(body, "media_format")
        self._in = _codec(req_str(fmt, "encoding"), number(fmt, "sample_rate", 8000))
        # What we send is the stream_bidirectional_codec, which the leg URL names.
        out_name = self.options.get("codec") or req_str(fmt, "encoding")
        out_rate = self.options.get("rate") or str(self._in[2])
        if not out_rate.isascii() or not out_rate.isdigit():
            raise err("unsupported_codec", f"rate {out_rate[:20]!r} in the leg URL", fatal=True)
        encoding, self._big_endian_out, rate = _codec(out_name, int(out_rate))
        self.fmt = MediaFormat(encoding, rate, 20)
        params = string_map(body.get("custom_parameters"), "custom_parameters")
        if self._token is not None and "token" not in params:
            params["token"] = self._token
        call_id = req_str(body, "call_control_id")
        session = opt_str(body, "call_session_id")
        ids = tuple(i for i in (self.stream_id, session) if i and i != call_id)
        info = {"stream_id": self.stream_id}
        if (state := opt_str(body, "client_state")) is not None:
            info["client_state"] = state
        self.call = CallStarted(
            call_id,
            ids=ids,
            params=params,
            from_=opt_str(body, "from"),
            to=opt_str(body, "to"),
            encoding=self._in[0],
            sample_rate=self._in[2],
            info=info,
        )
        return self.call

    def send(self, command: Command) -> list[Wire]:
        if isinstance(command, SendAudio):
            payload = b"".join(command.frames)
            if self._big_endian_out:
                payload = swap16(payload)
            return [dump({"event": "media", "media": {"payload": b64text(payload)}})]
        if isinstance(command, SendMark):
            return [dump({"event": "mark", "mark": {"name": command.name}})]
        if isinstance(command, ClearAudio):
            return [dump({"event": "clear"})]
        return []  # EndCall: closing the socket stops the stream
