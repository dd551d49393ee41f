"""Call legs over the application's own `/v1/speak` socket, one per `format`.

`binary` and `json` deliver bare frames; every carrier name (`twilio`,
`audiosocket`, ... the `telephony.carriers` registry) delivers that carrier's
messages for the application to forward unchanged, made by the very codec
that terminates the carrier's calls. All of them are a `CallLeg` over one of
these wires, paced ahead of real time by the session's `lead_ms`.

`binary` and `json` carry one frame per message while the lead is short (a
real-time player, an RTP forwarder). A client far ahead of real time gets the
frames that are due together in one message: WebSocket clients hold only so
many unread messages (the `websockets` library: 16) and stop reading beyond
that, so a client that stops reading and closes during a long burst would
wait behind frames it never read until its close timeout (10 s, then 1006).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import ClassVar

from telephony.carriers import carrier
from telephony.events import Command, SendAudio
from telephony.legs import CallLeg, SendAhead, Wire
from telephony.media import MediaFormat

from .protocol import SpeakSettings

SendText = Callable[[str], Awaitable[None]]
SendBytes = Callable[[bytes], Awaitable[None]]

SINGLE_FRAME_LEAD_FRAMES = 12  # up to this lead (in frames), one frame per message
MAX_MESSAGE_BYTES = 32768  # of audio per message when frames travel together


def frames_per_message(fmt: MediaFormat, lead_ms: float) -> int:
    if lead_ms <= SINGLE_FRAME_LEAD_FRAMES * fmt.frame_ms:
        return 1
    return max(1, MAX_MESSAGE_BYTES // fmt.frame_bytes)


class BinaryWire:
    """Whole frames in binary WebSocket messages (see the module docstring)."""

    kind: ClassVar[str] = "binary"

    def __init__(self, fmt: MediaFormat, *, lead_ms: float) -> None:
        self.fmt: MediaFormat | None = fmt
        self.max_frames_per_message = frames_per_message(fmt, lead_ms)

    def send(self, command: Command) -> list[str | bytes]:
        if isinstance(command, SendAudio):
            return [b"".join(command.frames)]
        return []  # marks, clears and hang-ups are events on this socket, not audio


class JsonWire(BinaryWire):
    """`{"type":"audio","seq":n,"payload":base64}` text messages, for clients without binary."""

    kind: ClassVar[str] = "json"

    def __init__(self, fmt: MediaFormat, *, lead_ms: float) -> None:
        super().__init__(fmt, lead_ms=lead_ms)
        self._seq = 0

    def send(self, command: Command) -> list[str | bytes]:
        if not isinstance(command, SendAudio):
            return []
        payload = base64.b64encode(b"".join(command.frames)).decode("ascii")
        message = {"type": "audio", "seq": self._seq, "payload": payload}
        self._seq += 1
        return [json.dumps(message, separators=(",", ":"))]


def make_leg(settings: SpeakSettings, send_text: SendText, send_bytes: SendBytes) -> CallLeg:
    """The leg for a session's own `format`: bare frames, or a carrier's messages to forward."""
    fmt = MediaFormat(settings.encoding, settings.sample_rate, settings.frame_ms)

    async def write(message: str | bytes) -> None:
        if isinstance(message, bytes):
            await send_bytes(message)
        else:
            await send_text(message)

    wire: Wire
    if settings.format == "json":
        wire = JsonWire(fmt, lead_ms=settings.lead_ms)
    elif settings.format == "binary":
        wire = BinaryWire(fmt, lead_ms=settings.lead_ms)
    else:
        wire = carrier(settings.format).for_output(fmt, settings.stream_sid)
    return CallLeg(wire, write, pacing=SendAhead(settings.lead_ms))
