"""Streaming sample-rate conversion from an engine's rate to the wire rate.

One `StreamResampler` per utterance: `soxr.ResampleStream` keeps its filter
state across chunks, so chunk seams click no more than a whole-buffer
conversion would (stateless per-chunk resampling is the classic source of
"crispy" telephony audio), and `flush()` drains the filter's delay line so the
tail of the sentence is not lost. Processing runs in float32 so the output does
not depend on how the input was chunked (soxr's int16 path rounds per block).
"""

from __future__ import annotations

import numpy as np
import soxr

__all__ = ["StreamResampler"]

_SCALE = 32768.0


class StreamResampler:
    """Converts int16 mono PCM from `in_rate` to `out_rate`, chunk by chunk."""

    def __init__(self, in_rate: int, out_rate: int, quality: str = "HQ") -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream: soxr.ResampleStream | None = None
        if in_rate != out_rate:
            self._stream = soxr.ResampleStream(
                in_rate, out_rate, 1, dtype="float32", quality=quality
            )

    @property
    def passthrough(self) -> bool:
        """Equal rates skip soxr entirely (no delay, bit-exact)."""
        return self._stream is None

    def process(self, pcm: np.ndarray) -> np.ndarray:
        """Resample one chunk; output may be shorter while the filter fills."""
        samples = _as_int16(pcm)
        if self._stream is None:
            return samples.copy()
        out = self._stream.resample_chunk(samples.astype(np.float32) / _SCALE)
        return _to_int16(out)

    def flush(self) -> np.ndarray:
        """Drain the filter at the end of the utterance; the stream is then reset."""
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        out = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self._stream.clear()
        return _to_int16(out)


def _as_int16(pcm: np.ndarray) -> np.ndarray:
    arr = np.asarray(pcm)
    if arr.dtype != np.int16:
        raise TypeError(f"expected int16 PCM, got {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"expected mono 1-D PCM, got shape {arr.shape}")
    return arr


def _to_int16(out: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(out.reshape(-1) * _SCALE), -32768, 32767).astype(np.int16)
