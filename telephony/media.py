"""Wire media formats and the per-utterance path from engine PCM to frames.

`MediaFormat` is the one description of what a leg puts on the wire (encoding,
rate, frame duration) and derives every byte count from it, so no caller does
`rate * ms / 1000 * width` arithmetic of its own. `UtteranceEncoder` chains the
streaming resampler, the G.711 encoder and the framer for one sentence.

Supported combinations: `mulaw` and `alaw` at 8000 Hz (G.711 is defined at
8 kHz only, and every carrier that takes it takes it at 8 kHz); `pcm16` (signed
16-bit little-endian) at 8000, 16000 or 24000 Hz. `frame_ms` is 10 to 100 in
steps of 10, the packetisation times telephony equipment uses. A carrier
adds its own rule (what its wire carries, declared by its codec:
`CarrierCodec.media_problem`), and a WAV file, which is not on a wire, takes
PCM at any rate but G.711 still at 8 kHz only. These rules live here only:
`format_problem` and `file_problem` are what every caller (the gateway's
settings, the call legs, `voxgate say`) validates with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from telephony.framer import Framer
from telephony.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from telephony.resample import StreamResampler

__all__ = [
    "ENCODINGS",
    "SAMPLE_RATES",
    "Encoding",
    "MediaFormat",
    "UtteranceEncoder",
    "decode_to_pcm16",
    "encode_pcm16",
    "file_problem",
    "format_problem",
]

Encoding = Literal["mulaw", "alaw", "pcm16"]
ENCODINGS: tuple[str, ...] = get_args(Encoding)
SAMPLE_RATES: dict[str, tuple[int, ...]] = {
    "mulaw": (8000,),
    "alaw": (8000,),
    "pcm16": (8000, 16000, 24000),
}
_SILENCE = {"mulaw": 0xFF, "alaw": 0xD5, "pcm16": 0x00}


def format_problem(
    encoding: object, sample_rate: object, frame_ms: object
) -> tuple[str, str] | None:
    """The first thing wrong with a wire format, as (field, message), or None if it is valid."""
    if encoding not in ENCODINGS:
        return "encoding", f"encoding must be one of {', '.join(ENCODINGS)}, not {encoding!r}"
    rates = SAMPLE_RATES[str(encoding)]
    if isinstance(sample_rate, bool) or sample_rate not in rates:
        allowed = ", ".join(str(r) for r in rates)
        return "sample_rate", f"{encoding} is carried at {allowed} Hz, not {sample_rate!r}"
    ms = frame_ms
    if isinstance(ms, bool) or not isinstance(ms, int) or not 10 <= ms <= 100 or ms % 10:
        return "frame_ms", f"frame_ms must be 10..100 in steps of 10, not {ms!r}"
    return None


def file_problem(encoding: object, sample_rate: object) -> str | None:
    """Why a WAV file cannot hold this encoding and rate, or None when it can.

    A file is not on a wire: PCM is stored at whatever rate the engine speaks
    (22050 Hz for the bundled Piper voice), but G.711 exists at 8 kHz only.
    """
    if encoding not in ENCODINGS:
        return f"encoding must be one of {', '.join(ENCODINGS)}, not {encoding!r}"
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
        return f"sample rate must be a positive integer, not {sample_rate!r}"
    if encoding != "pcm16" and sample_rate not in SAMPLE_RATES[str(encoding)]:
        allowed = ", ".join(str(r) for r in SAMPLE_RATES[str(encoding)])
        return f"{encoding} is stored at {allowed} Hz, not {sample_rate}"
    return None


@dataclass(frozen=True)
class MediaFormat:
    """What one frame on the wire looks like."""

    encoding: str = "mulaw"
    sample_rate: int = 8000
    frame_ms: int = 20

    def __post_init__(self) -> None:
        problem = format_problem(self.encoding, self.sample_rate, self.frame_ms)
        if problem is not None:
            raise ValueError(problem[1])

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding == "pcm16" else 1

    @property
    def samples_per_frame(self) -> int:
        return self.sample_rate * self.frame_ms // 1000

    @property
    def frame_bytes(self) -> int:
        return self.samples_per_frame * self.bytes_per_sample

    @property
    def bytes_per_ms(self) -> int:
        """Exact for every supported rate (all are multiples of 1000 Hz)."""
        return self.sample_rate // 1000 * self.bytes_per_sample

    @property
    def silence_byte(self) -> int:
        """The byte whose repetition is digital silence: 0xFF µ-law, 0xD5 A-law, 0x00 slin."""
        return _SILENCE[self.encoding]

    @property
    def silence_frame(self) -> bytes:
        return bytes([self.silence_byte]) * self.frame_bytes

    def bytes_to_ms(self, n_bytes: int) -> float:
        return n_bytes / self.bytes_per_ms

    def frames_to_ms(self, n_frames: int) -> int:
        return n_frames * self.frame_ms

    def ms_to_frames(self, ms: float) -> int:
        """Whole frames needed to hold `ms` of audio (rounded up)."""
        return math.ceil(ms / self.frame_ms)

    def encode(self, pcm16le: bytes) -> bytes:
        return encode_pcm16(self.encoding, pcm16le)

    def decode(self, data: bytes) -> bytes:
        return decode_to_pcm16(self.encoding, data)


def encode_pcm16(encoding: str, pcm16le: bytes) -> bytes:
    """16-bit little-endian PCM to `encoding` (identity for pcm16)."""
    if encoding == "mulaw":
        return ulaw_encode(pcm16le)
    if encoding == "alaw":
        return alaw_encode(pcm16le)
    if encoding == "pcm16":
        return bytes(pcm16le)
    raise ValueError(f"unsupported encoding {encoding!r}")


def decode_to_pcm16(encoding: str, data: bytes) -> bytes:
    """`encoding` to 16-bit little-endian PCM (identity for pcm16)."""
    if encoding == "mulaw":
        return ulaw_decode(data)
    if encoding == "alaw":
        return alaw_decode(data)
    if encoding == "pcm16":
        return bytes(data)
    raise ValueError(f"unsupported encoding {encoding!r}")


class UtteranceEncoder:
    """Engine PCM of one utterance in, exact wire frames out.

    Make a new one per sentence: `finish()` drains the resampler and pads the
    last frame, which must happen at a sentence's end and nowhere else.
    """

    def __init__(self, source_rate: int, fmt: MediaFormat) -> None:
        self.source_rate = source_rate
        self.fmt = fmt
        self._resampler = StreamResampler(source_rate, fmt.sample_rate)
        self._framer = Framer(fmt.frame_bytes, fmt.silence_byte)
        self._finished = False
        self.samples_in = 0
        self.samples_out = 0
        self.frames_out = 0

    @property
    def audio_ms(self) -> float:
        """Duration of the frames produced so far, padding included."""
        return float(self.frames_out * self.fmt.frame_ms)

    def feed(self, pcm: np.ndarray) -> list[bytes]:
        """Add int16 mono PCM at `source_rate`; return the frames now complete."""
        if self._finished:
            raise RuntimeError("UtteranceEncoder already finished; make one per utterance")
        self.samples_in += len(pcm)
        return self._frame(self._resampler.process(pcm))

    def finish(self) -> list[bytes]:
        """Flush the resampler tail and the padded last frame; ends the utterance."""
        if self._finished:
            return []
        self._finished = True
        frames = self._frame(self._resampler.flush())
        last = self._framer.flush()
        if last is not None:
            frames.append(last)
            self.frames_out += 1
        return frames

    def _frame(self, samples: np.ndarray) -> list[bytes]:
        if samples.size == 0:
            return []
        self.samples_out += samples.size
        encoded = encode_pcm16(self.fmt.encoding, samples.astype("<i2", copy=False).tobytes())
        frames = self._framer.push(encoded)
        self.frames_out += len(frames)
        return frames
