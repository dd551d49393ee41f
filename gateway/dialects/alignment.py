"""Character timings for a spoken sentence, as ElevenLabs' `alignment` reports them.

No engine voxgate runs reports when each character is spoken, so timings are
derived from what is known: the sentence's text and the duration of its audio
(the frames the pipeline actually sent, the last one padded to a frame).

- `normalizedAlignment` is over the text as spoken (after SPEC §8's
  normalization: "$5" is "five dollars"), every character an equal share of
  the duration: in speech, characters track phonemes closely enough for
  captions and word highlighting, which is what clients use it for.
- `alignment` is over the text as the client sent it, each character weighted
  by how much is spoken for it (`spoken_char_weights`: "$5" takes as long as
  "five dollars"), so a long amount or phone number gets its real share.

Times are in milliseconds from the start of the sentence's audio.
"""

from __future__ import annotations

from typing import Any

from tts_core.normalize import normalize
from tts_core.normalize.alignment import spoken_char_weights


def _timings(chars: str, weights: list[float], duration_ms: float) -> dict[str, Any]:
    total = sum(weights) or 1.0
    starts: list[int] = []
    durations: list[int] = []
    at = 0.0
    for weight in weights:
        share = duration_ms * weight / total
        start = round(at)
        starts.append(start)
        durations.append(max(0, round(at + share) - start))
        at += share
    return {
        "chars": list(chars),
        "charStartTimesMs": starts,
        # Both spellings appear in ElevenLabs' own documents and clients.
        "charsDurationsMs": durations,
        "charDurationsMs": durations,
    }


def alignment(
    text: str,
    duration_ms: float,
    language: str | None = None,
    locale: str | None = None,
    categories: object = "on",
) -> dict[str, Any]:
    """Timings of `text`'s characters over `duration_ms` (see the module docstring)."""
    return _timings(text, spoken_char_weights(text, language, locale, categories), duration_ms)


def normalized_alignment(
    text: str,
    duration_ms: float,
    language: str | None = None,
    locale: str | None = None,
    categories: object = "on",
) -> dict[str, Any]:
    """Timings of the spoken form of `text`, an equal share per character."""
    spoken = normalize(text, language, locale, categories)
    return _timings(spoken, [1.0] * len(spoken), duration_ms)
