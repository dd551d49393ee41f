"""Cutting an encoded byte stream into exact carrier frames.

Carriers and Asterisk want fixed-size frames (160 bytes of µ-law per 20 ms),
while resampled engine chunks come in arbitrary sizes. The framer carries the
remainder between chunks and pads only the utterance's last partial frame, with
the encoding's own silence byte, so no padding is ever inserted mid-sentence.
"""

from __future__ import annotations

__all__ = ["Framer"]


class Framer:
    """Accumulates bytes and releases whole frames of `frame_bytes`."""

    def __init__(self, frame_bytes: int, pad_byte: int) -> None:
        if frame_bytes <= 0:
            raise ValueError(f"frame_bytes must be positive, got {frame_bytes}")
        if not 0 <= pad_byte <= 0xFF:
            raise ValueError(f"pad_byte must be a byte value, got {pad_byte}")
        self.frame_bytes = frame_bytes
        self.pad_byte = pad_byte
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back waiting for a full frame."""
        return len(self._buf)

    def push(self, data: bytes) -> list[bytes]:
        """Add bytes; return every frame now complete, in order."""
        self._buf += data
        n = len(self._buf) // self.frame_bytes
        if n == 0:
            return []
        size = self.frame_bytes
        frames = [bytes(self._buf[i * size : (i + 1) * size]) for i in range(n)]
        del self._buf[: n * size]
        return frames

    def flush(self) -> bytes | None:
        """Return the remainder padded to a full frame, or None if nothing is held."""
        if not self._buf:
            return None
        frame = bytes(self._buf) + bytes([self.pad_byte]) * (self.frame_bytes - len(self._buf))
        self._buf.clear()
        return frame
