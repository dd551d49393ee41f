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
    PAYLOAD,
    CarrierCodec,
    Wire,
    b64,
    b64text,
    check_stream,
    digit,
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
EVENTS = frozenset({"media", "dtmf", "mark", "stop", "error"})
_MEDIA = payload_template({"event": "media", "media": {"payload": PAYLOAD}})
# Telnyx codec names -> (telephony.media encoding, whether samples are big-endian L16)
CODECS = {"PCMU": "mulaw", "PCMA": "alaw", "L16": "pcm16"}


def _codec(name: str, rate: int) -> tuple[str, int]:
    encoding = CODECS.get(name.upper())
    if encoding is None:
        raise err("unsupported_codec", f"codec {name!r}: use PCMU, PCMA or L16", fatal=True)
    if encoding != "pcm16":
        rate = 8000
    elif rate not in (8000, 16000, 24000):
        raise err("unsupported_codec", f"L16 at {rate} Hz: use 8000, 16000 or 24000", fatal=True)
    return encoding, rate


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

    def receive_text(self, text: str) -> list[CallEvent]:
        msg, event = read_event(text, stopped=self._stopped)
        if event == "connected":
            self._token = opt_str(msg, TOKEN_HEADER)
            return []
        if event == "start":
            return [self._start(msg)]
        check_stream(
            self, msg, event, EVENTS, key="stream_id", stream=self.stream_id, code="wrong_stream_id"
        )
        assert self.call is not None
        if event == "media":
            body = obj(msg, "media")
            if (opt_str(body, "track") or "inbound") not in ("inbound", "inbound_track"):
                return []
            payload = b64(body.get("payload"))
            enc, rate = self.call.encoding, self.call.sample_rate
            return [CallerAudio(swap16(payload) if enc == "pcm16" else payload, enc, rate)]
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
        in_enc, in_rate = _codec(req_str(fmt, "encoding"), number(fmt, "sample_rate", 8000))
        # What we send is the stream_bidirectional_codec, which the leg URL names.
        out_name = self.options.get("codec") or req_str(fmt, "encoding")
        out_rate = self.options.get("rate") or str(in_rate)
        if not out_rate.isascii() or not out_rate.isdigit():
            raise err("unsupported_codec", f"rate {out_rate[:20]!r} in the leg URL", fatal=True)
        encoding, rate = _codec(out_name, int(out_rate))
        self.fmt = MediaFormat(encoding, rate, 20)
        params = string_map(body.get("custom_parameters"), "custom_parameters")
        if self._token is not None and "token" not in params:
            params["token"] = self._token
        call_id = req_str(body, "call_control_id")
        session = opt_str(body, "call_session_id")
        ids = other_ids(call_id, self.stream_id, session)
        info = {"stream_id": self.stream_id}
        if (state := opt_str(body, "client_state")) is not None:
            info["client_state"] = state
        self.call = CallStarted(
            call_id,
            ids=ids,
            params=params,
            from_=opt_str(body, "from"),
            to=opt_str(body, "to"),
            encoding=in_enc,
            sample_rate=in_rate,
            info=info,
        )
        return self.call

    def send(self, command: Command) -> list[Wire]:
        if isinstance(command, SendAudio):
            payload = b"".join(command.frames)
            if self.fmt is not None and self.fmt.encoding == "pcm16":
                payload = swap16(payload)
            return [_MEDIA[0] + b64text(payload) + _MEDIA[1]]
        if isinstance(command, SendMark):
            return [dump({"event": "mark", "mark": {"name": command.name}})]
        if isinstance(command, ClearAudio):
            return [dump({"event": "clear"})]
        return []  # EndCall: closing the socket stops the stream
