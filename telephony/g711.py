"""G.711 µ-law and A-law conversion between 16-bit little-endian PCM and codes.

Encoding is bit-exact with the ITU-T G.191 reference implementation (the STL's
`g711.c`), which treats a negative 16-bit sample by its one's complement. A-law
and both decoders come straight from `audioop` (`audioop-lts` on 3.13+). For
µ-law encoding `audioop` negates negative samples instead, which lands 508 of
the 65,536 inputs one quantisation step away from G.191 at the decision levels,
so µ-law encoding goes through a 64 K table built once from `audioop` itself
with that one-step correction applied.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = ["alaw_decode", "alaw_encode", "ulaw_decode", "ulaw_encode"]

_LITTLE = sys.byteorder == "little"


def _native(pcm16le: bytes) -> bytes:
    """audioop works in native byte order; the wire is always little-endian."""
    return pcm16le if _LITTLE else audioop.byteswap(pcm16le, 2)


def _check_pcm(pcm16le: bytes) -> None:
    if len(pcm16le) % 2:
        raise ValueError(f"16-bit PCM must have an even byte count, got {len(pcm16le)}")


def _build_ulaw_table() -> np.ndarray:
    """µ-law code for every int16, indexed by the sample's bits read as uint16.

    audioop encodes a negative sample x with magnitude ceil(-x/4) (14-bit
    scale) where G.191 uses floor((-x-1)/4); for x <= -5 that is exactly
    audioop's code for x + 4. The four samples -4..-1 are G.191's "negative
    zero" (magnitude 0, sign bit clear), code 0x7F.
    """
    samples = np.arange(-32768, 32768, dtype=np.int32)
    shifted = np.where(samples <= -5, samples + 4, samples).astype("<i2")
    codes = np.frombuffer(audioop.lin2ulaw(_native(shifted.tobytes()), 2), dtype=np.uint8).copy()
    codes[(samples < 0) & (samples >= -4)] = 0x7F
    table = np.empty(65536, dtype=np.uint8)
    table[samples.astype(np.int16).view(np.uint16)] = codes
    return table


_ULAW_TABLE = _build_ulaw_table()


def ulaw_encode(pcm16le: bytes) -> bytes:
    """Encode 16-bit little-endian PCM to µ-law, one code byte per sample."""
    _check_pcm(pcm16le)
    return _ULAW_TABLE[np.frombuffer(pcm16le, dtype="<u2")].tobytes()


def ulaw_decode(codes: bytes) -> bytes:
    """Decode µ-law codes to 16-bit little-endian PCM."""
    return _native(audioop.ulaw2lin(codes, 2))


def alaw_encode(pcm16le: bytes) -> bytes:
    """Encode 16-bit little-endian PCM to A-law, one code byte per sample."""
    _check_pcm(pcm16le)
    return audioop.lin2alaw(_native(pcm16le), 2)


def alaw_decode(codes: bytes) -> bytes:
    """Decode A-law codes to 16-bit little-endian PCM."""
    return _native(audioop.alaw2lin(codes, 2))
