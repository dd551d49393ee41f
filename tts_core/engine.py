"""The engine contract every speech backend fulfils, and the errors it may raise.

An engine is a plain synchronous object: the speech core calls it from its one
inference thread, never from the event loop, so an engine may block freely and
needs no locking of its own. It knows nothing of sessions, sockets or telephony.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
class Resolved:
    """What a session will speak with, decided once when it starts.

    `voice` and `language` are the engine's own names (what goes into every
    `SynthesisRequest`); `locale` is the client's BCP 47 tag when it gave a
    regional one ("en-GB" for an en-us voice), which decides how numbers and
    dates are read, and None when the language is left to the engine ("auto").
    """

    voice: str
    language: str
    locale: str | None
    speed: float = 1.0


# Client language tags (ISO 639-1) for the language names some engines use.
LANGUAGE_NAMES = {
    "arabic": "ar", "chinese": "zh", "dutch": "nl", "english": "en", "french": "fr",
    "german": "de", "hindi": "hi", "italian": "it", "japanese": "ja", "korean": "ko",
    "polish": "pl", "portuguese": "pt", "russian": "ru", "spanish": "es", "turkish": "tr",
}  # fmt: skip


def language_tag(language: str | None) -> str | None:
    """A client's language as a BCP 47 tag ("en_us" → "en-US", "English" → "en"), or None.

    None means "auto": the engine decides, and nothing locale-specific applies.
    """
    if language is None:
        return None
    text = language.strip().replace("_", "-")
    if not text or text.lower() == "auto":
        return None
    if text.lower() in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[text.lower()]
    primary, _, rest = text.partition("-")
    if not rest:
        return primary.lower()
    region = rest.upper() if len(rest) == 2 else rest
    return f"{primary.lower()}-{region}"


def primary_language(language: str | None) -> str:
    """ "en" for "en-US", "en_us" or "English"; "" for None or "auto"."""
    tag = language_tag(language)
    return tag.split("-")[0] if tag else ""


def resolve_by_voices(
    voices: list[Voice],
    default_voice: str,
    voice: str | None,
    language: str | None,
    speed: float,
    *,
    speeds: tuple[float, float] = (0.25, 4.0),
    engine: str = "this engine",
) -> Resolved:
    """The resolver for engines whose voices each speak a few languages (Piper, tests).

    A voice matches by name, case-insensitively. A language matches a voice
    when its primary subtag does ("en-GB" is spoken by an en-us voice; the
    region stays as the locale for reading numbers and dates), and "auto" or
    nothing means the voice's default.
    """
    by_name = {v.name.lower(): v for v in voices}
    name = (voice or default_voice).strip()
    found = by_name.get(name.lower())
    if found is None:
        raise InvalidRequest(
            f"unknown voice {name!r} for {engine}; available: {', '.join(by_name) or 'none'}",
            field="voice",
        )
    tag = language_tag(language)
    if tag is None:
        engine_language = found.default_language
    else:
        spoken = {primary_language(x): x for x in found.languages}
        engine_language = spoken.get(tag.split("-")[0], "")
        if not engine_language:
            raise InvalidRequest(
                f"voice {found.name} speaks {', '.join(found.languages)}, not {language!r}",
                field="language",
            )
    if not speeds[0] <= speed <= speeds[1]:
        raise InvalidRequest(
            f"speed must be between {speeds[0]} and {speeds[1]} for {engine}", field="speed"
        )
    locale = tag if tag and "-" in tag else language_tag(engine_language)
    return Resolved(found.name, engine_language, locale, speed)


@dataclass(frozen=True)
class SynthesisRequest:
    """One sentence to speak. The cache key is derived from these fields.

    `normalize` chooses what the speech core rewrites into words before the
    engine sees the text (SPEC §8): "on" (default), "off", or the categories to
    apply (a frozenset, or any form `tts_core.normalize.parse_setting` accepts).
    `locale` (e.g. "en-GB") refines the language for locale-dependent readings
    such as numeric dates; the language itself still comes from `language`.
    """

    text: str
    voice: str | None = None
    language: str | None = None
    speed: float = 1.0
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)
    normalize: str | frozenset[str] = "on"
    locale: str | None = None


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

    def resolve(self, voice: str | None, language: str | None, speed: float = 1.0) -> Resolved:
        """The one place this engine's voice, language and speed rules live.

        Called once when a session starts (so a bad setting is refused up front,
        never sentence by sentence) and again by `synthesize` on what it is given.
        Raises `InvalidRequest` naming the field.
        """
        ...

    def synthesize(self, request: SynthesisRequest) -> Iterator[np.ndarray]: ...


@dataclass(frozen=True)
class StreamEnd:
    """The last item a batched engine gives a request's sink: the request is over
    (`reason`: eos, budget, cancelled, empty) and the engine holds nothing of it."""

    reason: str = "done"


#: Where a batched engine delivers one request's output, from its own thread: int16
#: chunks (np.ndarray), then a `StreamEnd`, or an `EngineError` instead of the end.
Sink = Callable[[object], None]


@runtime_checkable
class BatchedEngine(Engine, Protocol):
    """An engine that serves several requests at once from one decode loop (SPEC §3).

    The speech core admits at most `concurrency` requests (in its own order:
    fair between tenants, earliest deadline within one), hands each to `submit`
    from the event loop's thread (cheap, thread-safe, validates before queueing),
    and runs `run_until_idle` on its one inference thread while anything is
    queued or running. Every submitted request ends with exactly one terminal
    item on its sink, cancelled or not, which is when the core frees its place.
    """

    @property
    def concurrency(self) -> int: ...

    def submit(self, request: SynthesisRequest, sink: Sink) -> object: ...

    def cancel(self, ticket: object) -> None: ...

    def has_work(self) -> bool: ...

    def run_until_idle(self) -> None: ...


def concurrency(engine: Engine) -> int:
    """How many requests `engine` serves at once (1 unless it is a batched engine)."""
    if not isinstance(engine, BatchedEngine):
        return 1
    return max(1, int(engine.concurrency))


def float_to_int16(audio: np.ndarray) -> np.ndarray:
    """Convert float audio in [-1, 1] to int16, clipping rather than wrapping."""
    scaled = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767.0
    return np.round(scaled).astype(np.int16)
