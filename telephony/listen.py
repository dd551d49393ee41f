"""The caller's audio on its way to an application: any carrier's codec in, one format out.

Carriers deliver caller audio in their own encoding and rate (µ-law or A-law
at 8 kHz, slin at 8 or 16 kHz, ...) and in chunks of their own size (20 ms
for most, 100 ms for Exotel). An application's speech-to-text wants one
format, the one its session asked for, in steady frames. `CallerAudioStream`
decodes to 16-bit PCM, converts the rate with one `StreamResampler` kept for
the whole call (filter state carried across chunks: no clicks at chunk seams,
no samples lost between chunks), encodes, and cuts exact frames, carrying the
remainder to the next chunk. Nothing is padded: a call's audio never ends
mid-stream, and a partial frame is simply completed by the next chunk.

This audio is for recognition and barge-in detection, where every millisecond
of delay is heard as a slower agent, so the filter is chosen for delay: soxr's
linear-phase filters hold back 35-75 ms (HQ); going up in rate (8 kHz phone
audio to a 16 kHz recognizer) the quick cubic filter adds under a millisecond
and nothing to alias; going down keeps an anti-aliasing filter (LQ, about
36 ms from 16 to 8 kHz), since folding 4-8 kHz onto the band would hurt more.
"""

from __future__ import annotations

import numpy as np

from telephony.framer import Framer
from telephony.media import MediaFormat, decode_to_pcm16, encode_pcm16
from telephony.resample import StreamResampler

__all__ = ["CallerAudioStream"]


class CallerAudioStream:
    """Caller audio chunks in any supported encoding and rate, `out` frames out."""

    def __init__(self, out: MediaFormat) -> None:
        self.out = out
        self._framer = Framer(out.frame_bytes, out.silence_byte)
        self._source: tuple[str, int] | None = None
        self._resampler: StreamResampler | None = None
        self.samples_in = 0
        self.frames_out = 0

    def feed(self, payload: bytes, encoding: str, sample_rate: int) -> list[bytes]:
        """Add one chunk from the carrier; return the output frames now complete."""
        if self._source != (encoding, sample_rate):
            # A carrier does not change format mid-call; if one did, start a fresh filter
            # rather than run new samples through the old rate's state.
            self._source = (encoding, sample_rate)
            quality = "QQ" if self.out.sample_rate >= sample_rate else "LQ"
            self._resampler = StreamResampler(sample_rate, self.out.sample_rate, quality)
        assert self._resampler is not None
        pcm = np.frombuffer(decode_to_pcm16(encoding, payload), dtype="<i2")
        self.samples_in += pcm.size
        samples = self._resampler.process(pcm.astype(np.int16, copy=False))
        if samples.size == 0:
            return []
        encoded = encode_pcm16(self.out.encoding, samples.astype("<i2", copy=False).tobytes())
        frames = self._framer.push(encoded)
        self.frames_out += len(frames)
        return frames
