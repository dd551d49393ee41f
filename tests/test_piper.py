"""The embedded default engine speaks plausible English with no download."""

from __future__ import annotations

import numpy as np
import pytest

from tts_core.engine import InvalidRequest, SynthesisRequest
from tts_core.piper_engine import PiperEngine


def render(engine: PiperEngine, text: str, **kw) -> np.ndarray:
    return np.concatenate(list(engine.synthesize(SynthesisRequest(text, **kw))))


def test_bundled_voice_loads_without_download(piper_engine: PiperEngine) -> None:
    assert piper_engine.loaded
    assert piper_engine.sample_rate == 22050
    (voice,) = piper_engine.voices()
    assert voice.name == "en_US-joe-medium" and voice.default_language.startswith("en")


def test_speech_has_plausible_duration_and_level(piper_engine: PiperEngine) -> None:
    text = "Please hold while I transfer your call."  # 7 words
    pcm = render(piper_engine, text)
    assert pcm.dtype == np.int16
    seconds = len(pcm) / piper_engine.sample_rate
    # 7 words at 110-250 words per minute, plus a little leading/trailing silence.
    assert 1.2 < seconds < 4.5
    x = pcm.astype(np.float64) / 32768
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(x**2)))
    assert -30 < rms_dbfs < -3
    # Speech alternates sound and near-silence; a tone or noise would not.
    frame = piper_engine.sample_rate // 50
    levels = np.array(
        [np.sqrt(np.mean(x[i : i + frame] ** 2)) for i in range(0, len(x) - frame, frame)]
    )
    loud = levels > 10 ** (-35 / 20)
    assert 0.4 < loud.mean() < 0.98
    assert levels.max() / np.median(levels[loud]) > 1.5
    # Energy sits in the voice band, not at DC or near Nyquist.
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / piper_engine.sample_rate)
    band = spectrum[(freqs > 80) & (freqs < 4000)].sum() / spectrum.sum()
    assert band > 0.8


def test_longer_text_takes_proportionally_longer(piper_engine: PiperEngine) -> None:
    short = render(piper_engine, "Hello there.")
    long = render(piper_engine, "Hello there. " * 4)
    assert 2.5 < len(long) / len(short) < 5.5


def test_speed_scales_duration(piper_engine: PiperEngine) -> None:
    normal = render(piper_engine, "Your appointment is confirmed for Tuesday.")
    fast = render(piper_engine, "Your appointment is confirmed for Tuesday.", speed=1.5)
    assert 0.55 < len(fast) / len(normal) < 0.8


def test_unknown_voice_and_language_are_rejected(piper_engine: PiperEngine) -> None:
    with pytest.raises(InvalidRequest) as err:
        render(piper_engine, "Hi.", voice="nobody")
    assert err.value.field == "voice"
    with pytest.raises(InvalidRequest) as err:
        render(piper_engine, "Hi.", language="ja")
    assert err.value.field == "language"
    assert len(render(piper_engine, "Hi.", language="en")) > 0


def test_other_voice_path_is_honoured(tmp_path, piper_engine: PiperEngine) -> None:
    import shutil

    src = piper_engine.voice_path
    dst = tmp_path / "en_US-custom-medium.onnx"
    shutil.copy(src, dst)
    shutil.copy(f"{src}.json", f"{dst}.json")
    engine = PiperEngine(dst)
    engine.load()
    assert engine.default_voice() == "en_US-custom-medium"
    assert len(render(engine, "Custom voice.", voice="en_US-custom-medium")) > 0
    missing = PiperEngine(tmp_path / "missing.onnx")
    from tts_core.engine import EngineUnavailable

    with pytest.raises(EngineUnavailable):
        missing.load()


def _longest_inner_silence_ms(pcm: np.ndarray, rate: int) -> int:
    hop = rate // 100  # 10 ms
    peaks = np.array([np.abs(pcm[i : i + hop]).max() for i in range(0, len(pcm) - hop, hop)])
    voiced = np.flatnonzero(peaks > 0.02 * 32768)
    longest = run = 0
    for quiet in peaks[voiced[0] : voiced[-1]] <= 0.02 * 32768:
        run = run + 1 if quiet else 0
        longest = max(longest, run)
    return longest * 10


def test_abbreviations_do_not_break_the_sentence_in_two(piper_engine: PiperEngine) -> None:
    # espeak alone ends an utterance at "Dr." and Piper would pause ~280 ms after
    # "Doctor"; rendered as the one sentence it is, no pause is that long.
    for _ in range(3):
        pcm = render(piper_engine, "Dr. Smith called at 3 p.m. to confirm.")
        assert _longest_inner_silence_ms(pcm, piper_engine.sample_rate) < 200
