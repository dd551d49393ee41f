"""A deterministic stand-in engine for load tests and benchmarks.

It "speaks" a tone whose length follows the text (about 65 ms per character,
close to real speech rates) and can hold the inference thread for a fixed
fraction of that duration, so a benchmark can pin the real-time factor and
measure the gateway and the scheduler rather than a model. Selected with
`VOXGATE_ENGINE=sim`; never the default.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from .engine import EngineError, Resolved, SynthesisRequest, Voice, resolve_by_voices

MS_PER_CHAR = 65.0


class SimulatedEngine:
    """Tone generator with a configurable real-time factor and failure trigger."""

    name = "sim"

    def __init__(
        self,
        *,
        rtf: float = 0.0,
        sample_rate: int = 22050,
        chunk_ms: int = 0,
        fail_marker: str | None = None,
        load_delay_s: float = 0.0,
    ) -> None:
        self.rtf = rtf
        self._sample_rate = sample_rate
        self.chunk_ms = chunk_ms
        self.fail_marker = fail_marker
        self.load_delay_s = load_delay_s
        self._loaded = False
        self.load_count = 0

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        if self.load_delay_s:
            time.sleep(self.load_delay_s)
        self.load_count += 1
        self._loaded = True

    def unload(self) -> None:
        self._loaded = False

    def voices(self) -> list[Voice]:
        return [Voice("tone", ("en",), "en", "simulated 440 Hz tone (benchmarks only)")]

    def default_voice(self) -> str:
        return "tone"

    @staticmethod
    def duration_s(text: str, speed: float = 1.0) -> float:
        return max(1, len(text.strip())) * MS_PER_CHAR / 1000.0 / speed

    def resolve(self, voice: str | None, language: str | None, speed: float = 1.0) -> Resolved:
        return resolve_by_voices(self.voices(), "tone", voice, language, speed, engine="sim")

    def synthesize(self, request: SynthesisRequest) -> Iterator[np.ndarray]:
        self.resolve(request.voice, request.language, request.speed)
        if self.fail_marker and self.fail_marker in request.text:
            raise EngineError(f"simulated failure on {request.text!r}")
        total = round(self.duration_s(request.text, request.speed) * self._sample_rate)
        step = total if not self.chunk_ms else max(1, self._sample_rate * self.chunk_ms // 1000)
        t = np.arange(total, dtype=np.float64) / self._sample_rate
        pcm = (0.3 * 32767 * np.sin(2 * np.pi * 440.0 * t)).astype(np.int16)
        for start in range(0, total, step):
            piece = pcm[start : start + step]
            if self.rtf > 0:
                time.sleep(len(piece) / self._sample_rate * self.rtf)
            yield piece
