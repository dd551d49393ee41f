"""Cost of the media path per second of audio, and the resampler's aliasing figure.

Print the figures with:
    python -m pytest tests/telephony/test_bench_media.py -rP
(the pytest-benchmark table's "Mean" column is the cost of one second of audio).
Few rounds, so this stays fast in the normal suite; nothing here asserts a
wall-clock threshold, only that the measured work produced the right output.
"""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from telephony.media import MediaFormat, UtteranceEncoder
from telephony.resample import StreamResampler

ENGINE_CHUNK = 1024  # samples per engine chunk, as a streaming engine might yield


def speech_like(rate: int, seconds: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(rate)
    t = np.arange(int(rate * seconds)) / rate
    x = 6000 * np.sin(2 * np.pi * 180 * t) + 3000 * np.sin(2 * np.pi * 2300 * t)
    return np.clip(x + rng.normal(0, 1500, t.size), -32768, 32767).astype(np.int16)


def report(benchmark, label: str) -> None:
    mean = benchmark.stats.stats.mean
    benchmark.extra_info["cost_per_audio_second_ms"] = mean * 1000
    print(f"{label}: {mean * 1e3:.3f} ms CPU per second of audio ({1 / mean:.0f}x real time)")


@pytest.mark.parametrize("in_rate", [22050, 24000])
def test_bench_resample_to_8k(benchmark, in_rate: int) -> None:
    x = speech_like(in_rate)

    def one_second() -> int:
        r = StreamResampler(in_rate, 8000)
        n = sum(len(r.process(x[i : i + ENGINE_CHUNK])) for i in range(0, len(x), ENGINE_CHUNK))
        return n + len(r.flush())

    assert benchmark.pedantic(one_second, rounds=5, warmup_rounds=1) == 8000
    report(benchmark, f"resample {in_rate}->8000")


@pytest.mark.parametrize("encoding", ["mulaw", "alaw"])
def test_bench_encode_and_frame(benchmark, encoding: str) -> None:
    x = speech_like(8000)
    fmt = MediaFormat(encoding, 8000, 20)

    def one_second() -> int:
        enc = UtteranceEncoder(8000, fmt)
        frames = [f for i in range(0, len(x), 160) for f in enc.feed(x[i : i + 160])]
        return len(frames + enc.finish())

    assert benchmark.pedantic(one_second, rounds=5, warmup_rounds=1) == 50
    report(benchmark, f"encode+frame {encoding} 8000")


def test_bench_full_path_24k_to_mulaw_frames(benchmark) -> None:
    x = speech_like(24000)

    def one_second() -> int:
        enc = UtteranceEncoder(24000, MediaFormat())
        n = sum(len(enc.feed(x[i : i + ENGINE_CHUNK])) for i in range(0, len(x), ENGINE_CHUNK))
        return n + len(enc.finish())

    assert benchmark.pedantic(one_second, rounds=5, warmup_rounds=1) == 50
    report(benchmark, "resample+encode+frame 24000->mulaw 8000")


@pytest.mark.parametrize(("freq", "in_rate"), [(5000, 24000), (4200, 24000), (4500, 22050)])
def test_aliasing_attenuation_figure(freq: int, in_rate: int) -> None:
    """A tone above the 4 kHz Nyquist limit must vanish, not fold back to 8000 - f."""
    t = np.arange(in_rate * 2) / in_rate
    x = np.round(16000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    r = StreamResampler(in_rate, 8000)
    y = np.concatenate([r.process(x), r.flush()])[400:-400]
    peak_lsb = int(np.abs(y.astype(np.int32)).max())
    # The int16 output rounds the residue to nothing, so measure the same filter
    # (soxr HQ in float32, as StreamResampler runs it) before rounding.
    s = soxr.ResampleStream(in_rate, 8000, 1, dtype="float32", quality="HQ")
    xf = x.astype(np.float32) / 32768
    yf = np.concatenate([s.resample_chunk(xf), s.resample_chunk(xf[:0], last=True)])[400:-400]
    attenuation = 20 * np.log10(rms(xf) / max(rms(yf), 1e-12))
    print(
        f"alias of {freq} Hz at {in_rate} -> 8000: attenuated {attenuation:.1f} dB "
        f"(int16 output peak {peak_lsb} LSB)"
    )
    assert peak_lsb <= 1
    assert attenuation >= 50


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
