"""Map playout time back onto the client's own words (SPEC §8: `cleared.heard`).

A barge-in knows how far into a sentence's audio the listener got, and must say
which of the client's words that covers. Sharing the audio out per written word
misleads as soon as one token takes seconds to say: "$1,234,567.89" is one
written word and some sixty spoken characters. So each written word is weighed
by the length of what is actually spoken for it, taken from the normalizer's own
alignment (`normalize_pieces`: which span of the text became which words), and
the heard words are those whose spoken share ends within the played share.

Spoken length is counted in characters, the unit the speech core's budget and
the simulated engine use; for a real voice it tracks phonemes closely enough to
tell "heard the amount" from "cut in the middle of it".
"""

from __future__ import annotations

import re

from . import normalize_pieces

_WORD = re.compile(r"\S+")
_EPSILON = 1e-9


def spoken_weights(
    text: str,
    language: str | None = None,
    locale: str | None = None,
    categories: object = "on",
) -> list[float]:
    """For each whitespace-separated word of `text`, how many characters are spoken for it.

    A word's weight covers the word and the whitespace after it (a pause is part
    of the time it takes); a rendering that spans several written words (a phone
    number in groups, "Dec. 3, 2026") is shared among them by their written length.
    Falls back to the written lengths if the alignment does not cover `text`.
    """
    spans = [m.span() for m in _WORD.finditer(text)]
    if not spans:
        return []
    per_char = spoken_char_weights(text, language, locale, categories)
    weights: list[float] = []
    for index, (start, _) in enumerate(spans):
        end = spans[index + 1][0] if index + 1 < len(spans) else len(text)
        weights.append(sum(per_char[start:end]))
    return weights


def spoken_char_weights(
    text: str,
    language: str | None = None,
    locale: str | None = None,
    categories: object = "on",
) -> list[float]:
    """For each character of `text`, how many spoken characters it stands for.

    1.0 for text spoken as written; a rendering's spoken length shared among the
    visible characters it was written with ("$5" → "five dollars": 6 each).
    What the speech APIs' character alignment (ElevenLabs) is computed from.
    """
    per_char = [1.0] * len(text)
    pieces = normalize_pieces(text, language, locale, categories)
    if "".join(written for written, _ in pieces) == text:
        at = 0
        for written, spoken in pieces:
            if written != spoken:
                _spread(per_char, at, written, len(spoken))
            at += len(written)
    return per_char


def _spread(per_char: list[float], at: int, written: str, spoken_len: int) -> None:
    """Give a rendering's spoken length to the visible characters it was written with."""
    visible = [i for i, ch in enumerate(written) if not ch.isspace()]
    if not visible:
        return
    share = spoken_len / len(visible)
    for i in range(len(written)):
        per_char[at + i] = 0.0
    for i in visible:
        per_char[at + i] = share


def heard_words(
    text: str,
    share: float,
    language: str | None = None,
    locale: str | None = None,
    categories: object = "on",
) -> int:
    """How many leading words of `text` were heard when `share` (0..1) of its audio played.

    A word counts as heard once all of its spoken share has played; a word cut
    in the middle is not heard (and is reported as dropped).
    """
    if share <= 0:
        return 0
    weights = spoken_weights(text, language, locale, categories)
    if share >= 1:
        return len(weights)
    total = sum(weights)
    if total <= 0:
        return int(len(weights) * share)
    played = share * total + _EPSILON
    done = 0.0
    for count, weight in enumerate(weights):
        done += weight
        if done > played:
            return count
    return len(weights)
