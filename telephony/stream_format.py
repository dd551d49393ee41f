"""Wire formats of speech APIs: PCM at the rates hosted TTS services deliver.

Carriers take G.711 at 8 kHz and slin at 8, 16 or 24 kHz, and `MediaFormat`
refuses anything else so that a call leg can never be set up to send audio a
carrier would reject. Speech APIs are wider: ElevenLabs streams `pcm_22050`
and `pcm_44100`, and a client asking for the engine's native rate should get
it without a resampling step it did not want. `StreamFormat` is a
`MediaFormat` that also admits those rates, so the same encoder and framer
(resampler state carried across chunks, exact frames, silence padding) serve
them; it is only built by the dialect adapters, never by a carrier leg.

A frame must hold whole samples: 22050 Hz needs frames of 20 ms multiples
(441 samples), which every adapter uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from telephony.media import MediaFormat, format_problem

__all__ = ["STREAM_RATES", "StreamFormat", "stream_format_problem"]

#: pcm16 rates a speech API may ask for, besides the carrier ones.
STREAM_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)


def stream_format_problem(
    encoding: object, sample_rate: object, frame_ms: object
) -> tuple[str, str] | None:
    """Like `format_problem`, with pcm16 at any of `STREAM_RATES`."""
    if encoding == "pcm16" and sample_rate in STREAM_RATES and not isinstance(sample_rate, bool):
        problem = format_problem("pcm16", 8000, frame_ms)
        if problem is not None:
            return problem
        if int(sample_rate) * int(frame_ms) % 1000:  # type: ignore[call-overload]
            return "frame_ms", f"{frame_ms} ms at {sample_rate} Hz is not a whole number of samples"
        return None
    return format_problem(encoding, sample_rate, frame_ms)


@dataclass(frozen=True)
class StreamFormat(MediaFormat):
    """A `MediaFormat` that also carries pcm16 at 22.05, 44.1 and 48 kHz."""

    def __post_init__(self) -> None:
        problem = stream_format_problem(self.encoding, self.sample_rate, self.frame_ms)
        if problem is not None:
            raise ValueError(problem[1])

    @property
    def bytes_per_ms(self) -> float:  # type: ignore[override]
        """Fractional at 22.05 and 44.1 kHz; only used to convert sizes to durations."""
        return self.sample_rate * self.bytes_per_sample / 1000
