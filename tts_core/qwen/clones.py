"""Cloned voices of a Qwen3-TTS Base checkpoint: registered once, kept, resolved by id.

Why a store: `create_voice_clone_prompt` (speaker encoder, codec encoder) costs
about a second on a real model, and a caller picks a voice once and uses it on
every call, so it runs once per voice. Its result is keyed by the content hash
of the reference (the decoded samples, their rate and the transcript), so the
same recording registered twice is the same voice and costs nothing the second
time: the seed's voice-prompt cache, shared by every session. Prompts are kept
in a bounded LRU; with a directory (`VOXGATE_VOICES_DIR`) every voice is also
written there (metadata JSON and the prompt's tensors), so a restart keeps them
and an evicted prompt is read back instead of lost. Without a directory the
number of voices is bounded instead.

`BaseCatalogue` is the resolver for a Base checkpoint (SPEC §2: the one place
its voice rules live): voices are cloned-voice ids; a CustomVoice speaker name
is refused with the reason.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tts_core.engine import InvalidRequest, Resolved, Voice, language_tag

from .internals import ClonePrompt
from .voices import PUBLISHED_SPEAKERS, Catalogue

ID_PREFIX = "clone-"
_ID = re.compile(r"clone-[0-9a-f]{16}")


def reference_digest(wav: np.ndarray, sample_rate: int, transcript: str | None) -> str:
    """The content hash a cloned voice is known by."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(wav, dtype="<f4").tobytes())
    h.update(f"|{int(sample_rate)}|{transcript or ''}".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class ClonedVoice:
    id: str
    name: str
    digest: str
    transcript: str | None
    seconds: float
    created: float

    @property
    def mode(self) -> str:
        return "icl" if self.transcript else "x_vector"


class CloneStore:
    """Voice metadata (all of it) in memory, prompts in a bounded LRU, optionally on disk."""

    def __init__(self, directory: str | None, *, max_prompts: int = 64,
                 max_voices: int = 256) -> None:  # fmt: skip
        self.directory = Path(directory) if directory else None
        self.max_prompts = max_prompts
        self.max_voices = max_voices
        self._voices: dict[str, ClonedVoice] = {}
        self._prompts: OrderedDict[str, ClonePrompt] = OrderedDict()
        self._lock = threading.Lock()  # the event loop reads, the inference thread writes
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            for meta in sorted(self.directory.glob("clone-*.json")):
                try:
                    voice = ClonedVoice(**json.loads(meta.read_text(encoding="utf-8")))
                except (OSError, ValueError, TypeError):
                    continue  # a damaged entry is skipped, not fatal
                if _ID.fullmatch(voice.id) and (self.directory / f"{voice.id}.pt").is_file():
                    self._voices[voice.id] = voice

    def voices(self) -> list[ClonedVoice]:
        with self._lock:
            return sorted(self._voices.values(), key=lambda v: v.created)

    def get(self, voice_id: str) -> ClonedVoice | None:
        with self._lock:
            return self._voices.get(voice_id.strip().lower())

    def by_digest(self, digest: str) -> ClonedVoice | None:
        return self.get(ID_PREFIX + digest[:16])

    def prompt(self, voice_id: str) -> ClonePrompt:
        with self._lock:
            prompt = self._prompts.get(voice_id)
            if prompt is not None:
                self._prompts.move_to_end(voice_id)
                return prompt
        if self.directory is None or voice_id not in self._voices:
            raise InvalidRequest(f"cloned voice {voice_id!r} is not registered", field="voice")
        torch = importlib.import_module("torch")
        data = torch.load(self.directory / f"{voice_id}.pt", weights_only=True)
        prompt = ClonePrompt(data["speaker"], data.get("ref_code"), data.get("ref_text"))
        self._remember(voice_id, prompt)
        return prompt

    def _remember(self, voice_id: str, prompt: ClonePrompt) -> None:
        with self._lock:
            self._prompts[voice_id] = prompt
            self._prompts.move_to_end(voice_id)
            while len(self._prompts) > self.max_prompts:
                self._prompts.popitem(last=False)

    def add(self, voice: ClonedVoice, prompt: ClonePrompt) -> None:
        with self._lock:
            if voice.id not in self._voices and len(self._voices) >= self.max_voices:
                raise InvalidRequest(
                    f"at most {self.max_voices} cloned voices may be registered; delete one",
                    field="audio",
                )
        if self.directory is not None:
            tensors = {"speaker": prompt.speaker, "ref_code": prompt.ref_code,
                       "ref_text": prompt.ref_text}  # fmt: skip
            torch = importlib.import_module("torch")
            _atomic(self.directory / f"{voice.id}.pt", lambda f: torch.save(tensors, f))
            meta = json.dumps(asdict(voice), ensure_ascii=False).encode("utf-8")
            _atomic(self.directory / f"{voice.id}.json", lambda f: f.write(meta))
        with self._lock:
            self._voices[voice.id] = voice
        self._remember(voice.id, prompt)

    def remove(self, voice_id: str) -> bool:
        voice_id = voice_id.strip().lower()
        with self._lock:
            found = self._voices.pop(voice_id, None)
            self._prompts.pop(voice_id, None)
        if found is not None and self.directory is not None:
            for suffix in (".json", ".pt"):
                (self.directory / f"{voice_id}{suffix}").unlink(missing_ok=True)
        return found is not None


def _atomic(path: Path, write: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def new_voice(digest: str, name: str | None, transcript: str | None, seconds: float) -> ClonedVoice:
    voice_id = ID_PREFIX + digest[:16]
    return ClonedVoice(voice_id, (name or voice_id)[:128], digest, transcript or None,
                       round(seconds, 3), time.time())  # fmt: skip


def register_voice(
    store: CloneStore, tts: Any, torch: Any, wav: np.ndarray, sample_rate: int,
    transcript: str | None, name: str | None,
) -> tuple[ClonedVoice, bool]:  # fmt: skip
    """The voice for a reference: the registered one when its content is known, else a new
    one from qwen-tts's `create_voice_clone_prompt` (which then runs once). On the
    inference thread only. Returns the voice and whether it is new."""
    from tts_core.engine import EngineError

    from .internals import create_clone_prompt

    digest = reference_digest(wav, sample_rate, transcript)
    known = store.by_digest(digest)
    if known is not None:
        return known, False
    try:
        with torch.inference_mode():
            prompt = create_clone_prompt(tts, wav, sample_rate, transcript)
    except Exception as exc:
        raise EngineError(f"qwen could not make a voice from this audio: {exc}") from exc
    voice = new_voice(digest, name, transcript, len(wav) / sample_rate)
    store.add(voice, prompt)
    return voice, True


@dataclass
class BaseCatalogue:
    """Languages of the checkpoint, voices from the store (see the module docstring)."""

    store: CloneStore
    languages: tuple[str, ...]
    default_speaker: str | None = None

    def _languages(self) -> Catalogue:
        return Catalogue((), self.languages)

    def voices(self) -> list[Voice]:
        return [
            Voice(v.id, self.languages, "auto",
                  f"cloned voice {v.name!r} ({v.mode}, {v.seconds:.1f} s of reference)")
            for v in self.store.voices()
        ]  # fmt: skip

    def default_voice(self) -> str:
        if self.default_speaker:
            return self.default_speaker
        voices = self.store.voices()
        return voices[0].id if voices else ""

    def resolve_voice(self, voice: str | None) -> str:
        name = (voice or self.default_voice()).strip().lower()
        if not name:
            raise InvalidRequest(
                "this Qwen3-TTS Base checkpoint speaks cloned voices only; register one with "
                "POST /v1/voices and pass its id as the voice", field="voice",
            )  # fmt: skip
        if name in PUBLISHED_SPEAKERS:
            raise InvalidRequest(
                f"{name!r} is a CustomVoice speaker, and this is a Base checkpoint: it speaks "
                "cloned voices (POST /v1/voices); load a CustomVoice model for named speakers",
                field="voice",
            )  # fmt: skip
        if self.store.get(name) is None:
            known = [v.id for v in self.store.voices()]
            raise InvalidRequest(
                f"unknown voice {voice!r}; registered voices: {known or 'none'} "
                "(register one with POST /v1/voices)", field="voice",
            )  # fmt: skip
        return name

    def resolve_language(self, language: str | None) -> str:
        return self._languages().resolve_language(language)

    def resolve(self, voice: str | None, language: str | None, speed: float = 1.0) -> Resolved:
        name = self.resolve_voice(voice)
        model_language = self.resolve_language(language)
        if speed != 1.0:
            raise InvalidRequest(
                "the qwen engine speaks at its natural rate only (speed 1.0)", field="speed"
            )
        tag = language_tag(language)
        locale = tag if tag and "-" in tag else language_tag(model_language)
        return Resolved(name, model_language, locale, speed)
