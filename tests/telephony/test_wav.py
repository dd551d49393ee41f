"""WAV files for IVR prompts: PCM, and G.711 with the headers Asterisk and Twilio expect."""

from __future__ import annotations

import struct
import wave
from io import BytesIO

import numpy as np
import pytest

from telephony.g711 import alaw_decode, ulaw_decode
from telephony.wav import wav_bytes


def chunks(data: bytes) -> dict[bytes, bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    out, pos = {}, 12
    while pos < len(data):
        name, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        out[name] = data[pos + 8 : pos + 8 + size]
        pos += 8 + size + size % 2
    return out


def tone(n: int = 8001) -> bytes:
    t = np.arange(n) / 8000
    return (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()


@pytest.mark.parametrize(
    ("encoding", "tag", "decode"), [("mulaw", 7, ulaw_decode), ("alaw", 6, alaw_decode)]
)
def test_g711_wav_has_the_non_pcm_header_and_round_trips(encoding, tag, decode) -> None:
    pcm = tone()
    parts = chunks(wav_bytes(pcm, 8000, encoding))
    fmt_tag, channels, rate, byte_rate, align, bits, extra = struct.unpack(
        "<HHIIHHH", parts[b"fmt "]
    )
    assert (fmt_tag, channels, rate, byte_rate, align, bits, extra) == (tag, 1, 8000, 8000, 1, 8, 0)
    assert struct.unpack("<I", parts[b"fact"])[0] == len(pcm) // 2  # samples
    assert len(parts[b"data"]) == 8001  # odd: padded in the file, not in the chunk
    back = np.frombuffer(decode(parts[b"data"]), "<i2").astype(float)
    original = np.frombuffer(pcm, "<i2").astype(float)
    assert np.max(np.abs(back - original)) < 0.04 * 8000  # G.711's own quantisation


def test_pcm_wav_is_what_the_wave_module_reads() -> None:
    pcm = tone(1600)
    with wave.open(BytesIO(wav_bytes(pcm, 16000)), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.readframes(wav.getnframes()) == pcm


def test_g711_is_only_written_at_8000_hz() -> None:
    with pytest.raises(ValueError, match="8000"):
        wav_bytes(tone(), 16000, "mulaw")


def test_pcm_wav_keeps_the_engine_rate() -> None:
    # `voxgate say "Hi there." -o x.wav` writes the bundled voice's own 22050 Hz: a file is
    # not a wire, so the wire's 8/16/24 kHz rule must not refuse it.
    pcm = tone(2205)
    with wave.open(BytesIO(wav_bytes(pcm, 22050)), "rb") as wav:
        assert (wav.getsampwidth(), wav.getframerate()) == (2, 22050)
        assert wav.readframes(wav.getnframes()) == pcm
