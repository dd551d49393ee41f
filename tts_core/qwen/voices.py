"""Qwen3-TTS speakers and languages: what a checkpoint offers and how client names map.

Why a module of its own: the resolver is the one place the engine's naming rules
live (SPEC §2), and it must answer before the model is loaded (`/v1/voices`, a
session's `ready`), from the checkpoint's config.json when it is a local folder
or from the published catalogue when it is a hub id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tts_core.engine import InvalidRequest, Resolved, Voice, language_tag

# What the released CustomVoice checkpoints report, used only to answer before a
# hub model is loaded (a local folder is read from its config.json instead).
PUBLISHED_SPEAKERS = (
    "aiden", "dylan", "eric", "ono_anna", "ryan", "serena", "sohee", "uncle_fu", "vivian",
)  # fmt: skip
PUBLISHED_LANGUAGES = (
    "auto", "chinese", "english", "french", "german", "italian",
    "japanese", "korean", "portuguese", "russian", "spanish",
)  # fmt: skip
# Native language of the released speakers, for the voice description only.
SPEAKER_NATIVE = {
    "aiden": "english", "ryan": "english", "vivian": "chinese", "serena": "chinese",
    "uncle_fu": "chinese", "dylan": "chinese (Beijing)", "eric": "chinese (Sichuan)",
    "ono_anna": "japanese", "sohee": "korean",
}  # fmt: skip
# Preferred default speakers, in order, when none is configured (a phone gateway
# is most often used in English).
PREFERRED_DEFAULTS = ("ryan", "aiden", "vivian")
# ISO 639-1 codes clients commonly send, mapped to the model's language names.
ISO_LANGUAGES = {
    "zh": "chinese", "en": "english", "fr": "french", "de": "german", "it": "italian",
    "ja": "japanese", "ko": "korean", "pt": "portuguese", "ru": "russian", "es": "spanish",
}  # fmt: skip


@dataclass
class Catalogue:
    """A checkpoint's speakers and languages (lower-case, sorted)."""

    speakers: tuple[str, ...]
    languages: tuple[str, ...]
    default_speaker: str | None = None

    @classmethod
    def from_checkpoint(cls, model_id: str, default_speaker: str | None = None) -> Catalogue:
        config = Path(model_id) / "config.json"
        if config.is_file():
            try:
                talker = json.loads(config.read_text(encoding="utf-8"))["talker_config"]
                speakers = tuple(sorted(k.lower() for k in talker["spk_id"]))
                named = talker["codec_language_id"]
                langs = ["auto", *(k.lower() for k in named if "dialect" not in k)]
                return cls(speakers, tuple(sorted(langs)), default_speaker)
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return cls(PUBLISHED_SPEAKERS, PUBLISHED_LANGUAGES, default_speaker)

    def voices(self) -> list[Voice]:
        return [
            Voice(
                name=s,
                languages=self.languages,
                default_language="auto",
                description=f"Qwen3-TTS speaker {s}"
                + (f", native {SPEAKER_NATIVE[s]}" if s in SPEAKER_NATIVE else ""),
            )
            for s in self.speakers
        ]

    def default_voice(self) -> str:
        if self.default_speaker:
            return self.default_speaker
        return next((s for s in PREFERRED_DEFAULTS if s in self.speakers), self.speakers[0])

    def resolve_voice(self, voice: str | None) -> str:
        """The model's name for `voice` (case-insensitive), or `InvalidRequest`."""
        name = (voice or self.default_voice()).strip().lower()
        if name not in self.speakers:
            raise InvalidRequest(
                f"unknown voice {voice!r} for the qwen engine; choose one of {list(self.speakers)}",
                field="voice",
            )
        return name

    def resolve_language(self, language: str | None) -> str:
        """The model's name for `language` ("auto" when absent), or `InvalidRequest`.

        Accepts the model's names case-insensitively and ISO 639-1 codes with an
        optional region ("en", "en-US", "ja_JP"), which is what clients usually send.
        """
        if language is None or not language.strip():
            return "auto"
        name = language.strip().lower()
        if name not in self.languages:
            name = ISO_LANGUAGES.get(name.replace("_", "-").split("-")[0], name)
        if name not in self.languages:
            raise InvalidRequest(
                f"unknown language {language!r} for the qwen engine; "
                f"choose one of {list(self.languages)}",
                field="language",
            )
        return name

    def resolve(self, voice: str | None, language: str | None, speed: float = 1.0) -> Resolved:
        """Speaker and language as the model names them; speed is the model's own only."""
        speaker = self.resolve_voice(voice)
        model_language = self.resolve_language(language)
        if speed != 1.0:
            raise InvalidRequest(
                "the qwen engine speaks at its natural rate only (speed 1.0)", field="speed"
            )
        tag = language_tag(language)
        locale = tag if tag and "-" in tag else language_tag(model_language)
        return Resolved(speaker, model_language, locale, speed)


def checkpoint_kind(model_id: str) -> str | None:
    """`tts_model_type` from a local checkpoint's config.json (None for a hub id)."""
    try:
        config = json.loads((Path(model_id) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config.get("tts_model_type") if isinstance(config, dict) else None
