"""WAV files of telephone audio: 16-bit PCM, or G.711 µ-law/A-law as IVR systems play them.

Pre-rendered prompts are a common use of a TTS gateway, and the systems that
play them want G.711 in a WAV container: Asterisk's `Playback()` takes
`.wav` in µ-law (WAVE_FORMAT_MULAW) or slin, Twilio's `<Play>` takes µ-law
8 kHz WAV. Python's `wave` module writes PCM only, so the non-PCM header
(format tag 7 or 6, and the `fact` chunk the RIFF rules require for it) is
written here. Sans-I/O: bytes in, bytes out.
"""

from __future__ import annotations

import struct

from telephony.media import encode_pcm16, file_problem

__all__ = ["wav_bytes"]

_FORMAT_TAGS = {"pcm16": 1, "alaw": 6, "mulaw": 7}


def wav_bytes(pcm16le: bytes, sample_rate: int, encoding: str = "pcm16") -> bytes:
    """A mono WAV file of `pcm16le` (16-bit little-endian) stored as `encoding`."""
    if (problem := file_problem(encoding, sample_rate)) is not None:
        raise ValueError(problem)
    data = encode_pcm16(encoding, pcm16le)
    width = 2 if encoding == "pcm16" else 1
    samples = len(data) // width
    tag = _FORMAT_TAGS[encoding]
    if tag == 1:
        fmt = struct.pack("<HHIIHH", tag, 1, sample_rate, sample_rate * width, width, 8 * width)
        chunks = [b"fmt ", struct.pack("<I", len(fmt)), fmt]
    else:
        fmt = struct.pack("<HHIIHHH", tag, 1, sample_rate, sample_rate * width, width, 8, 0)
        fact = struct.pack("<I", samples)
        chunks = [b"fmt ", struct.pack("<I", len(fmt)), fmt, b"fact", struct.pack("<I", 4), fact]
    chunks += [b"data", struct.pack("<I", len(data)), data]
    if len(data) % 2:
        chunks.append(b"\x00")  # RIFF chunks are padded to an even size
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body
