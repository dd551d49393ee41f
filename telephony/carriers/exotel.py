"""Exotel AgentStream, the bidirectional Voicebot applet, sans-I/O.

Exotel opens the socket to the applet's URL and sends `connected`, `start`
(`stream_sid`, and in `start`: `call_sid`, `account_sid`, `from`, `to`,
`custom_parameters`, `media_format` with the `sample_rate`), `media` (base64
16-bit little-endian slin, about 100 ms a message), `dtmf`, `mark` (a mark we
sent has been reached: the audio before it played) and `stop`. We send
`media`, `mark` and `clear`, each naming the stream.

Exotel's rule for the audio it is sent: chunks of at least 3.2 KB (smaller
ones may break up on network jitter), at most 100 KB, and always a multiple
of 320 bytes (otherwise the platform waits 20 ms after the odd tail). So
frames are gathered here into chunks of 3,200 bytes or more; what is left at
the end of a sentence (before its mark) is padded with silence up to the
minimum, and a barge-in drops whatever is gathered with the `clear`. The
playout clock can run ahead by the gathered part (under 200 ms at 8 kHz);
Exotel's mark at each sentence end puts it right again.
"""

from __future__ import annotations

from typing import Any, ClassVar

from telephony.carriers.base import (
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
    Dtmf,
    HungUp,
    MarkPlayed,
    SendAudio,
    SendMark,
)
from telephony.media import MediaFormat

__all__ = ["ExotelCodec"]

MIN_CHUNK = 3200
MAX_CHUNK = 100_000 // 320 * 320
EVENTS = frozenset({"media", "dtmf", "mark", "clear", "stop"})


class ExotelCodec(CarrierCodec):
    """One Exotel voicebot stream (see the module docstring)."""

    name: ClassVar[str] = "exotel"
    media_options: ClassVar[dict[str, tuple[int, ...]]] = {"pcm16": (8000, 16000, 24000)}
    playback_acks: ClassVar[bool] = True
    needs_stream_id: ClassVar[bool] = True
    lead_ms: ClassVar[int] = 600  # room for a gathered chunk on top of the usual lead

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.stream_sid: str | None = None
        self._gathered = bytearray()
        self._stopped = False

    def set_stream_id(self, stream_id: str | None) -> None:
        self.stream_sid = stream_id

    # -- inbound -------------------------------------------------------------------

    def receive_text(self, text: str) -> list[CallEvent]:
        msg, event = read_event(text, stopped=self._stopped)
        if event == "connected":
            return []
        if event == "start":
            return [self._start(msg)]
        check_stream(
            self,
            msg,
            event,
            EVENTS,
            key="stream_sid",
            stream=self.stream_sid,
            code="wrong_stream_sid",
        )
        assert self.fmt is not None
        if event == "media":
            payload = b64(obj(msg, "media").get("payload"))
            if len(payload) % 2:
                raise err("bad_payload", f"slin of odd length {len(payload)}")
            return [CallerAudio(payload, "pcm16", self.fmt.sample_rate)]
        if event == "dtmf":
            return [Dtmf(digit(obj(msg, "dtmf").get("digit")))]
        if event == "mark":
            return [MarkPlayed(req_str(obj(msg, "mark"), "name"))]
        if event == "clear":
            return [Cleared()]
        self._stopped = True
        return [HungUp("stop")]

    def _start(self, msg: dict[str, Any]) -> CallStarted:
        if self.call is not None:
            raise err("out_of_order", "duplicate 'start'")
        body = obj(msg, "start")
        self.stream_sid = opt_str(body, "stream_sid") or req_str(msg, "stream_sid")
        rate = number(obj(body, "media_format", optional=True), "sample_rate", 8000)
        if rate not in self.media_options["pcm16"]:
            raise err("unsupported_codec", f"slin at {rate} Hz", fatal=True)
        self.fmt = MediaFormat("pcm16", rate, 20)
        call_id = req_str(body, "call_sid")
        info = {"stream_sid": self.stream_sid}
        if (account := opt_str(body, "account_sid")) is not None:
            info["account_sid"] = account
        self.call = CallStarted(
            call_id,
            ids=other_ids(call_id, self.stream_sid),
            params=string_map(body.get("custom_parameters"), "custom_parameters"),
            from_=opt_str(body, "from"),
            to=opt_str(body, "to"),
            encoding="pcm16",
            sample_rate=rate,
            info=info,
        )
        return self.call

    # -- outbound ------------------------------------------------------------------

    def _media(self, chunk: bytes) -> str:
        return dump(
            {"event": "media", "stream_sid": self.stream_sid, "media": {"payload": b64text(chunk)}}
        )

    def _flush(self, pad: bool) -> list[Wire]:
        """The gathered audio as chunks within Exotel's limits (padded at a sentence end)."""
        if pad and self._gathered and len(self._gathered) < MIN_CHUNK:
            self._gathered += bytes(MIN_CHUNK - len(self._gathered))  # slin silence
        messages: list[Wire] = []
        while len(self._gathered) >= MIN_CHUNK:
            size = min(len(self._gathered), MAX_CHUNK)
            messages.append(self._media(bytes(self._gathered[:size])))
            del self._gathered[:size]
        return messages

    def send(self, command: Command) -> list[Wire]:
        if isinstance(command, SendAudio):
            for frame in command.frames:  # 20 ms slin frames: 320, 640 or 960 bytes
                self._gathered += frame
            return self._flush(pad=False)
        if isinstance(command, SendMark):
            mark = {"event": "mark", "stream_sid": self.stream_sid, "mark": {"name": command.name}}
            return [*self._flush(pad=True), dump(mark)]
        self._gathered.clear()  # a barge-in or the end: nothing gathered plays
        if isinstance(command, ClearAudio):
            return [dump({"event": "clear", "stream_sid": self.stream_sid})]
        return []  # EndCall: closing the socket ends the stream
