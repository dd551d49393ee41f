"""A recognizer listens to the phone path and must hear the same numbers, dates and words.

Sentences full of amounts, dates, times, phone numbers and codes are normalized,
rendered by the bundled Piper voice, sent through the telephony path a call uses
(engine PCM → `UtteranceEncoder` → 8 kHz µ-law frames → decoded and resampled to
16 kHz) and transcribed by Whisper base on the CPU (bench/asr.py). Each sentence's
key words ("forty two dollars fifty cents", "x j seven k q two") must come
through in order, and the word error rate must stay low.

Deterministic: Piper renders without sampling noise and Whisper decodes greedily,
so the same audio gives the same transcript on every run. The margins (a whole
key phrase, WER ≤ 0.34 per sentence, ≤ 0.1 on average) leave room for another
CPU's arithmetic without letting a misread number through: one wrong digit in a
key phrase fails the test. Runs in the default suite; about 20 s on 2 cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `bench` is a folder of the checkout, not an installed package
    sys.path.insert(0, str(REPO))

from bench import asr  # noqa: E402
from tts_core.normalize import normalize  # noqa: E402

pytestmark = pytest.mark.slow

CHECKED = [s for s in asr.SAMPLES if s.key]
_heard: dict[str, list[str]] = {}


@pytest.fixture(scope="module")
def whisper() -> object:
    return asr.load_model()


def _contains(words: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return any(words[i : i + n] == phrase for i in range(len(words) - n + 1))


def _hear(whisper: object, piper_engine: object, written: str) -> list[str]:
    if written not in _heard:
        text = normalize(written, "en", "en-US")
        pcm = asr.render_steady(piper_engine, text)
        audio = asr.phone_path(pcm, piper_engine.sample_rate)  # type: ignore[attr-defined]
        _heard[written] = asr.canonical(asr.transcribe(whisper, audio))
    return _heard[written]


def test_the_phone_path_is_8_khz_mulaw(piper_engine) -> None:
    pcm = asr.render_steady(piper_engine, "Hello.")
    again = asr.render_steady(piper_engine, "Hello.")
    assert np.array_equal(pcm, again)  # no sampling noise: the verdict cannot flap
    narrow = asr.phone_path(pcm, piper_engine.sample_rate)
    seconds = len(pcm) / piper_engine.sample_rate
    assert abs(len(narrow) / asr.ASR_RATE - seconds) < 0.05
    # Nothing above the 4 kHz telephone band survives µ-law at 8 kHz.
    spectrum = np.abs(np.fft.rfft(narrow)) ** 2
    freqs = np.fft.rfftfreq(len(narrow), 1 / asr.ASR_RATE)
    assert spectrum[freqs > 4100].sum() / spectrum.sum() < 1e-3


@pytest.mark.parametrize("sample", CHECKED, ids=[s.written for s in CHECKED])
def test_the_caller_hears_the_key_words(sample: asr.Sample, whisper, piper_engine) -> None:
    heard = _hear(whisper, piper_engine, sample.written)
    reference = asr.canonical(sample.spoken)
    key = asr.canonical(sample.key)
    assert _contains(heard, key), f"{sample.written!r}: heard {' '.join(heard)!r}"
    errors = asr.word_errors(reference, heard)
    assert errors / len(reference) <= 0.34, f"heard {' '.join(heard)!r}"


def test_word_error_rate_is_low_over_all_checked_sentences(whisper, piper_engine) -> None:
    errors = words = 0
    for sample in CHECKED:
        reference = asr.canonical(sample.spoken)
        errors += asr.word_errors(reference, _hear(whisper, piper_engine, sample.written))
        words += len(reference)
    assert errors / words <= 0.10


def test_the_recognizer_is_a_strict_judge(whisper, piper_engine) -> None:
    """Without normalization the voice says "$42.50" so that it is heard wrongly."""
    pcm = asr.render_steady(piper_engine, "Your total is $42.50 today.")
    heard = asr.canonical(asr.transcribe(whisper, asr.phone_path(pcm, piper_engine.sample_rate)))
    assert not _contains(heard, asr.canonical("forty two dollars fifty cents")), heard


def test_model_is_joined_once_into_the_cache(tmp_path: Path) -> None:
    first = asr.model_dir(tmp_path)
    model = first / "model.bin"
    stamp = model.stat().st_mtime_ns
    assert asr.model_dir(tmp_path) == first and model.stat().st_mtime_ns == stamp
    assert {p.name for p in first.iterdir()} == {"model.bin", *asr.SIDE_FILES}
    assert not str(asr.cache_root()).startswith(str(REPO))
