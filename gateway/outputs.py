"""Call legs over the application's own `/v1/speak` socket, one per `format`.

`binary` and `json` deliver bare frames; `twilio` and `audiosocket` deliver
messages the application forwards to a carrier unchanged, so they reuse the
carrier legs' wire encoding. All of them pace through the shared `CallLeg`
deadline clock with the session's `lead_ms`.

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
from collections.abc import Awaitable, Callable, Sequence

from telephony.audiosocket import encode_audio
from telephony.legs import CallLeg, TwilioLeg
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


class BinaryLeg(CallLeg):
    """Whole frames in binary WebSocket messages (see the module docstring)."""

    def __init__(self, send_bytes: SendBytes, fmt: MediaFormat, *, lead_ms: float) -> None:
        super().__init__(fmt, lead_ms=lead_ms)
        self._send_bytes = send_bytes
        self.max_frames_per_message = frames_per_message(fmt, lead_ms)

    async def _emit_frame(self, frame: bytes) -> None:
        await self._send_bytes(frame)

    async def _emit_frames(self, frames: Sequence[bytes]) -> None:
        await self._send_bytes(b"".join(frames))


class JsonLeg(CallLeg):
    """`{"type":"audio","seq":n,"payload":base64}` text messages, for clients without binary."""

    def __init__(self, send_text: SendText, fmt: MediaFormat, *, lead_ms: float) -> None:
        super().__init__(fmt, lead_ms=lead_ms)
        self._send_text = send_text
        self._seq = 0
        self.max_frames_per_message = frames_per_message(fmt, lead_ms)

    async def _emit_frames(self, frames: Sequence[bytes]) -> None:
        await self._emit_frame(b"".join(frames))

    async def _emit_frame(self, frame: bytes) -> None:
        payload = base64.b64encode(frame).decode("ascii")
        await self._send_text(
            json.dumps(
                {"type": "audio", "seq": self._seq, "payload": payload}, separators=(",", ":")
            )
        )
        self._seq += 1


class AudioSocketFramesLeg(CallLeg):
    """AudioSocket audio messages (0x10 / 0x12) the application writes to Asterisk as they are."""

    def __init__(self, send_bytes: SendBytes, fmt: MediaFormat, *, lead_ms: float) -> None:
        super().__init__(fmt, lead_ms=lead_ms)
        self._send_bytes = send_bytes

    async def _emit_frame(self, frame: bytes) -> None:
        await self._send_bytes(encode_audio(frame, self.fmt.sample_rate))


def make_leg(settings: SpeakSettings, send_text: SendText, send_bytes: SendBytes) -> CallLeg:
    fmt = MediaFormat(settings.encoding, settings.sample_rate, settings.frame_ms)
    if settings.format == "json":
        return JsonLeg(send_text, fmt, lead_ms=settings.lead_ms)
    if settings.format == "twilio":
        assert settings.stream_sid
        return TwilioLeg(
            send_text, settings.stream_sid, lead_ms=settings.lead_ms, frame_ms=settings.frame_ms
        )
    if settings.format == "audiosocket":
        return AudioSocketFramesLeg(send_bytes, fmt, lead_ms=settings.lead_ms)
    return BinaryLeg(send_bytes, fmt, lead_ms=settings.lead_ms)
