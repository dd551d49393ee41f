"""Caller audio for the application: any carrier format in, the session's frames out, no lag."""

from __future__ import annotations

import numpy as np
import pytest

from telephony.listen import CallerAudioStream
from telephony.media import MediaFormat

TONE_HZ = 440.0


def tone(rate: int, ms: int, start: int = 0) -> np.ndarray:
    t = (np.arange(rate * ms // 1000) + start) / rate
    return (8000 * np.sin(2 * np.pi * TONE_HZ * t)).astype("<i2")


def dominant_hz(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / rate)[int(np.argmax(spectrum))])


CASES = [
    ("mulaw", 8000, "pcm16", 16000),
    ("alaw", 8000, "pcm16", 16000),
    ("pcm16", 8000, "mulaw", 8000),
    ("mulaw", 8000, "alaw", 8000),
    ("pcm16", 16000, "pcm16", 8000),
    ("pcm16", 16000, "pcm16", 24000),
    ("pcm16", 24000, "pcm16", 16000),
    ("pcm16", 8000, "pcm16", 8000),
]


@pytest.mark.parametrize(("enc_in", "rate_in", "enc_out", "rate_out"), CASES)
@pytest.mark.parametrize("chunk_ms", [20, 100, 30])
def test_any_format_in_exact_frames_of_the_same_voice_out(
    enc_in: str, rate_in: int, enc_out: str, rate_out: int, chunk_ms: int
) -> None:
    fin, fout = MediaFormat(enc_in, rate_in, 20), MediaFormat(enc_out, rate_out, 20)
    stream = CallerAudioStream(fout)
    frames: list[bytes] = []
    per_chunk = rate_in * chunk_ms // 1000
    for n in range(1000 // chunk_ms):
        frames += stream.feed(fin.encode(tone(rate_in, chunk_ms, n * per_chunk).tobytes()),
                              enc_in, rate_in)  # fmt: skip
    assert frames and {len(f) for f in frames} == {fout.frame_bytes}
    pcm = np.frombuffer(fout.decode(b"".join(frames)), dtype="<i2")
    assert abs(dominant_hz(pcm[rate_out // 10 :], rate_out) - TONE_HZ) < 5
    # Little is held back: at most the filter's delay and one partial frame.
    held_ms = 1000 - len(frames) * 20
    assert held_ms <= 20 + (40 if rate_out < rate_in else 1)


@pytest.mark.parametrize(("rate_in", "rate_out", "bound_ms"),
                         [(8000, 16000, 1.0), (8000, 8000, 0.0), (16000, 8000, 40.0)])  # fmt: skip
def test_the_caller_is_heard_with_almost_no_delay(rate_in: int, rate_out: int, bound_ms: float):
    """A sound that starts in one chunk is out, at its own time, by the end of that chunk
    (going up in rate) or within the anti-aliasing filter's delay (going down)."""
    stream = CallerAudioStream(MediaFormat("pcm16", rate_out, 20))
    out = b""
    onset_chunk = 10
    emitted_at = None
    for n in range(30):
        pcm = tone(rate_in, 20) if n >= onset_chunk else np.zeros(rate_in // 50, "<i2")
        out += b"".join(stream.feed(pcm.tobytes(), "pcm16", rate_in))
        samples = np.frombuffer(out, dtype="<i2")
        if emitted_at is None and samples.size and np.abs(samples).max() > 4000:
            emitted_at = n
    samples = np.frombuffer(out, dtype="<i2")
    onset = int(np.argmax(np.abs(samples) > 1000))
    assert abs(onset - onset_chunk * rate_out // 50) <= 2  # in place: no shift in time
    produced_ms = len(samples) / rate_out * 1000
    assert 30 * 20 - produced_ms <= bound_ms + 20  # what is still held: filter + a frame
    assert emitted_at is not None and (emitted_at - onset_chunk) * 20 <= bound_ms + 20


def test_a_new_source_format_starts_a_fresh_filter() -> None:
    stream = CallerAudioStream(MediaFormat("pcm16", 16000, 20))
    stream.feed(tone(8000, 40).tobytes(), "pcm16", 8000)
    frames = stream.feed(tone(16000, 40).tobytes(), "pcm16", 16000)
    assert frames and all(len(f) == 640 for f in frames)
