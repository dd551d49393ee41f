"""Reference recordings for the voice-clone tests: voiced, varied, a few seconds long."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf


def voice_like(seconds: float = 3.0, rate: int = 24000, pitch: float = 140.0) -> np.ndarray:
    """A buzzy, syllable-modulated tone: enough like speech for the encoders to chew on."""
    t = np.arange(int(seconds * rate)) / rate
    buzz = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 8))
    syllables = 0.5 * (1 + np.sin(2 * np.pi * 4 * t))
    return (0.2 * buzz * syllables).astype(np.float32)


def encoded(wav: np.ndarray, rate: int, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    out = io.BytesIO()
    sf.write(out, wav, rate, format=fmt, subtype=subtype)
    return out.getvalue()
