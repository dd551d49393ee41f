"""Streaming resampler: chunking invariance, anti-aliasing, level, length."""

from __future__ import annotations

import numpy as np
import pytest

from telephony.resample import StreamResampler


def tone(freq: float, rate: int, seconds: float, amplitude: float = 16000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def resample_whole(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    r = StreamResampler(in_rate, out_rate)
    return np.concatenate([r.process(x), r.flush()])


def resample_chunked(x: np.ndarray, in_rate: int, out_rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    r = StreamResampler(in_rate, out_rate)
    parts, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 2000))
        parts.append(r.process(x[i : i + n]))
        i += n
    parts.append(r.flush())
    return np.concatenate(parts)


def settled(x: np.ndarray, rate: int, margin_s: float = 0.05) -> np.ndarray:
    m = int(rate * margin_s)
    return x[m:-m]


@pytest.mark.parametrize(("in_rate", "out_rate"), [(22050, 8000), (24000, 8000), (24000, 16000)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_chunking_matches_whole_buffer(in_rate: int, out_rate: int, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    speechlike = tone(440, in_rate, 1.0, 8000).astype(np.int32) + rng.normal(0, 2000, in_rate)
    x = np.clip(speechlike, -32768, 32767).astype(np.int16)
    whole = resample_whole(x, in_rate, out_rate)
    chunked = resample_chunked(x, in_rate, out_rate, seed)
    assert len(chunked) == len(whole)
    diff = np.abs(whole.astype(np.int32) - chunked.astype(np.int32))
    assert settled(diff, out_rate).max() <= 1


def test_5khz_tone_at_24k_does_not_alias_into_8k() -> None:
    x = tone(5000, 24000, 1.0)
    y = resample_whole(x, 24000, 8000)
    attenuation_db = 20 * np.log10(rms(x) / max(rms(settled(y, 8000)), 1e-9))
    assert attenuation_db >= 50, attenuation_db


@pytest.mark.parametrize(("in_rate", "out_rate"), [(22050, 8000), (24000, 8000), (22050, 16000)])
def test_1khz_tone_keeps_its_level(in_rate: int, out_rate: int) -> None:
    x = tone(1000, in_rate, 1.0)
    y = resample_whole(x, in_rate, out_rate)
    gain_db = 20 * np.log10(rms(settled(y, out_rate)) / rms(settled(x, in_rate)))
    assert abs(gain_db) <= 0.5, gain_db


@pytest.mark.parametrize(("in_rate", "out_rate"), [(22050, 8000), (24000, 8000), (16000, 8000)])
@pytest.mark.parametrize("seconds", [0.137, 1.0, 2.71])
def test_total_length_matches_duration(in_rate: int, out_rate: int, seconds: float) -> None:
    x = tone(300, in_rate, seconds)
    y = resample_chunked(x, in_rate, out_rate, seed=7)
    expected = len(x) * out_rate / in_rate
    assert abs(len(y) - expected) <= out_rate * 0.02  # one 20 ms frame


def test_tail_is_not_lost_on_flush() -> None:
    x = tone(1000, 24000, 0.2)
    r = StreamResampler(24000, 8000)
    head = r.process(x)
    tail = r.flush()
    assert len(tail) > 0
    assert len(head) + len(tail) == 1600
    # The tone's last 10 ms survive at full level.
    assert rms(np.concatenate([head, tail])[-80:]) > 0.5 * rms(x)


def test_equal_rates_pass_through_bit_exact() -> None:
    x = tone(1000, 8000, 0.1)
    r = StreamResampler(8000, 8000)
    assert r.passthrough
    np.testing.assert_array_equal(r.process(x), x)
    assert r.flush().size == 0


def test_flush_resets_for_a_clean_next_utterance() -> None:
    x = tone(700, 24000, 0.3)
    r = StreamResampler(24000, 8000)
    first = np.concatenate([r.process(x), r.flush()])
    second = np.concatenate([r.process(x), r.flush()])
    np.testing.assert_array_equal(first, second)


def test_rejects_float_and_stereo_input() -> None:
    r = StreamResampler(24000, 8000)
    with pytest.raises(TypeError):
        r.process(np.zeros(10, dtype=np.float32))
    with pytest.raises(ValueError):
        r.process(np.zeros((10, 2), dtype=np.int16))
