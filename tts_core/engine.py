"""The engine contract every speech backend fulfils, and the errors it may raise.

An engine is a plain synchronous object: the speech core calls it from its one
inference thread, never from the event loop, so an engine may block freely and
needs no locking of its own. It knows nothing of sessions, sockets or telephony.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


class EngineError(Exception):
    """Synthesis failed for one request; the engine itself is still usable."""

    code = "engine_error"


class EngineUnavailable(EngineError):
    """The engine could not be loaded (missing package, bad weights, no device)."""

    code = "engine_unavailable"


class InvalidRequest(EngineError):
    """The request names a voice, language or speed the engine does not offer."""

    code = "invalid_request"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Voice:
    """A voice an engine offers, as reported to clients by `/v1/voices`."""

    name: str
    languages: tuple[str, ...]
    default_language: str
    description: str = ""


@dataclass(frozen=True)
class SynthesisRequest:
    """One sentence to speak. The cache key is derived from these fields."""

    text: str
    voice: str | None = None
    language: str | None = None
    speed: float = 1.0
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)


@runtime_checkable
class Engine(Protocol):
    """What the speech core needs from a backend (SPEC §2).

    `synthesize` yields 16-bit mono PCM (`np.int16`, 1-D) at `sample_rate`: one
    chunk for engines that render a whole sentence, several for streaming ones.
    It must raise `InvalidRequest` for unknown voices or languages before doing
    any expensive work, and `EngineError` for a failure of this one sentence.
    """

    name: str

    @property
    def sample_rate(self) -> int: ...

    @property
    def loaded(self) -> bool: ...

    def load(self) -> None: ...

    def unload(self) -> None: ...

    def voices(self) -> list[Voice]: ...

    def default_voice(self) -> str: ...

    def synthesize(self, request: SynthesisRequest) -> Iterator[np.ndarray]: ...


def float_to_int16(audio: np.ndarray) -> np.ndarray:
    """Convert float audio in [-1, 1] to int16, clipping rather than wrapping."""
    scaled = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767.0
    return np.round(scaled).astype(np.int16)
