"""Asterisk AudioSocket, sans-I/O: `[kind u8][length u16 BE][payload]` over TCP.

`AudioSocketParser` is incremental: TCP delivers bytes, not messages, so it
buffers a partial message until its payload has fully arrived and parses every
message packed into one read. Unknown kinds are returned as `Unknown` rather
than raised: the length field keeps the stream in sync, and Asterisk has added
kinds before (DTMF, the slin rates), so skipping them keeps older builds of this
gateway working against newer Asterisk. A message of a known kind with a
malformed payload is a protocol error, after which the parser refuses further
input (Asterisk ends the session on such errors too).

The encoders only ever emit audio (0x10 slin 8 kHz, 0x12 slin16) or hangup:
Asterisk drops the call on any other kind from the server. `AudioSocketCodec`
is the carrier-codec contract on top: the UUID becomes `CallStarted`, audio
`CallerAudio`, 0x03 `Dtmf`, hangup and error `HungUp`. AudioSocket has no
jitter buffer (each frame read is written to the channel at once), so its
codec picks the real-time pump, and it has no clear and no marks: barge-in is
"stop sending", and the played position is the pump's own clock.
"""

from __future__ import annotations

import struct
import uuid as _uuid
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

from telephony.carriers.base import CarrierCodec, CarrierProtocolError, Wire
from telephony.events import (
    CallerAudio,
    CallEvent,
    CallStarted,
    Command,
    Dtmf,
    EndCall,
    HungUp,
    SendAudio,
)
from telephony.legs.pacing import Pacing, RealTimePump
from telephony.media import MediaFormat

__all__ = [
    "AUDIO_KINDS",
    "MAX_PAYLOAD",
    "Audio",
    "AudioSocketCodec",
    "AudioSocketParser",
    "AudioSocketProtocolError",
    "Dtmf",
    "Error",
    "Hangup",
    "Kind",
    "Message",
    "Unknown",
    "Uuid",
    "encode_audio",
    "encode_hangup",
]

MAX_PAYLOAD = 0xFFFF
_HEADER = struct.Struct(">BH")


class Kind(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    SLIN = 0x10
    SLIN12 = 0x11
    SLIN16 = 0x12
    SLIN24 = 0x13
    SLIN32 = 0x14
    SLIN44 = 0x15
    SLIN48 = 0x16
    SLIN96 = 0x17
    SLIN192 = 0x18
    ERROR = 0xFF


AUDIO_KINDS: dict[int, int] = {
    Kind.SLIN: 8000,
    Kind.SLIN12: 12000,
    Kind.SLIN16: 16000,
    Kind.SLIN24: 24000,
    Kind.SLIN32: 32000,
    Kind.SLIN44: 44100,
    Kind.SLIN48: 48000,
    Kind.SLIN96: 96000,
    Kind.SLIN192: 192000,
}
_ENCODE_KINDS = {8000: Kind.SLIN, 16000: Kind.SLIN16}


class AudioSocketProtocolError(CarrierProtocolError):
    """Bad AudioSocket input (always fatal: the byte stream is out of step); `messages`
    holds those parsed before the bad one."""

    def __init__(self, code: str, message: str, messages: list[Message] | None = None) -> None:
        super().__init__(code, message, fatal=True)
        self.messages: list[Message] = messages or []


@dataclass(frozen=True)
class Hangup:
    """Asterisk hung up (kind 0x00)."""


@dataclass(frozen=True)
class Uuid:
    uuid: str


@dataclass(frozen=True)
class Audio:
    """Caller audio: signed 16-bit little-endian mono at `sample_rate`."""

    pcm: bytes
    sample_rate: int


@dataclass(frozen=True)
class Error:
    """Asterisk reported an error; `code` is 0x01 hangup, 0x02 frame forwarding, 0x04 memory."""

    code: int | None


@dataclass(frozen=True)
class Unknown:
    kind: int
    payload: bytes


Message = Hangup | Uuid | Dtmf | Audio | Error | Unknown


class AudioSocketParser:
    """Feed it TCP reads in any segmentation; it returns whole messages."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._failed: AudioSocketProtocolError | None = None

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message held back."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        if self._failed is not None:
            raise self._failed
        self._buf += data
        messages: list[Message] = []
        pos = 0
        buf = self._buf
        try:
            while len(buf) - pos >= _HEADER.size:
                kind, length = _HEADER.unpack_from(buf, pos)
                end = pos + _HEADER.size + length
                if end > len(buf):
                    break
                payload = bytes(buf[pos + _HEADER.size : end])
                pos = end
                messages.append(_decode(kind, payload))
        except AudioSocketProtocolError as exc:
            exc.messages = messages
            self._failed = exc
            self._buf.clear()
            raise
        del buf[:pos]
        return messages

    def eof(self) -> None:
        """The peer closed the socket; a half-received message is an error."""
        if self._buf:
            raise AudioSocketProtocolError(
                "closed_mid_message", f"connection closed with {len(self._buf)} bytes pending"
            )


def _decode(kind: int, payload: bytes) -> Message:
    if kind == Kind.HANGUP:
        return Hangup()
    if kind == Kind.UUID:
        if len(payload) != 16:
            raise AudioSocketProtocolError("bad_uuid", f"UUID payload is {len(payload)} bytes")
        return Uuid(str(_uuid.UUID(bytes=payload)))
    if kind == Kind.DTMF:
        if len(payload) != 1 or not 0x20 < payload[0] < 0x7F:
            raise AudioSocketProtocolError("bad_dtmf", f"DTMF payload {payload!r}")
        return Dtmf(payload.decode("ascii"))
    if kind in AUDIO_KINDS:
        if len(payload) % 2:
            raise AudioSocketProtocolError("bad_audio", f"odd audio length {len(payload)}")
        return Audio(payload, AUDIO_KINDS[kind])
    if kind == Kind.ERROR:
        return Error(payload[0] if payload else None)
    return Unknown(kind, payload)


def encode_audio(pcm16le: bytes, sample_rate: int = 8000) -> bytes:
    """Wrap slin audio in 0x10 (8 kHz) or 0x12 (16 kHz) messages, split at 64 KiB."""
    kind = _ENCODE_KINDS.get(sample_rate)
    if kind is None:
        raise ValueError(f"AudioSocket audio must be 8000 or 16000 Hz, got {sample_rate}")
    if len(pcm16le) % 2:
        raise ValueError(f"16-bit PCM must have an even byte count, got {len(pcm16le)}")
    step = MAX_PAYLOAD - 1
    out = bytearray()
    for i in range(0, len(pcm16le), step):
        chunk = pcm16le[i : i + step]
        out += _HEADER.pack(kind, len(chunk))
        out += chunk
    return bytes(out)


def encode_hangup() -> bytes:
    return _HEADER.pack(Kind.HANGUP, 0)


class AudioSocketCodec(CarrierCodec):
    """One AudioSocket connection as shared call events (see the module docstring)."""

    name: ClassVar[str] = "audiosocket"
    transport = "tcp"
    media_options: ClassVar[dict[str, tuple[int, ...]]] = {"pcm16": (8000, 16000)}
    lead_ms: ClassVar[int] = 0

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.parser = AudioSocketParser()
        self.fmt = MediaFormat("pcm16", 8000, 20)  # `AudioSocket()` forces slin 8 kHz

    def pacing(self) -> Pacing:
        return RealTimePump()

    def receive_bytes(self, data: bytes) -> list[CallEvent]:
        try:
            messages = self.parser.feed(data)
        except AudioSocketProtocolError as exc:
            exc.events = self._events(exc.messages)
            raise
        return self._events(messages)

    def _events(self, messages: list[Message]) -> list[CallEvent]:
        events: list[CallEvent] = []
        for msg in messages:
            if self.call is None:
                if not isinstance(msg, Uuid):
                    raise AudioSocketProtocolError("no_uuid", f"first message was {msg!r}"[:200])
                self.call = CallStarted(msg.uuid, encoding="pcm16", sample_rate=8000)
                events.append(self.call)
            elif isinstance(msg, Audio):
                events.append(CallerAudio(msg.pcm, "pcm16", msg.sample_rate))
            elif isinstance(msg, Dtmf):
                events.append(msg)
            elif isinstance(msg, Hangup):
                events.append(HungUp("hangup"))
            elif isinstance(msg, Error):
                # 0x01 is "the caller hung up"; the others are Asterisk's own failures.
                events.append(HungUp("hangup" if msg.code in (None, 1) else "carrier_error"))
        return events

    def receive_eof(self) -> list[CallEvent]:
        self.parser.eof()
        return [HungUp("hangup")]

    def send(self, command: Command) -> list[Wire]:
        assert self.fmt is not None
        if isinstance(command, SendAudio):
            return [encode_audio(b"".join(command.frames), self.fmt.sample_rate)]
        if isinstance(command, EndCall):
            return [encode_hangup()]
        return []  # no marks and no clear on AudioSocket: never send Asterisk other kinds
