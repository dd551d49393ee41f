"""Adaptive `max_new_tokens` for codec-token engines (Qwen3-TTS 12 Hz), sized from the text.

Why: a token engine stops at its end-of-speech token or at `max_new_tokens`,
whichever comes first. A fixed large cap lets a runaway generation (short text that
never ends, looping, a random model) burn up to 164 s of GPU time per sentence, and
a fixed small cap truncates real speech. So the cap follows the text: about
`TOKENS_PER_UNIT` codec frames (0.64 s at 12.5 frames/s) per spoken unit, which is
well above the time any speaker takes for it, clamped to `[MIN_TOKENS, MAX_TOKENS]`.

A "unit" is counted by script, not by the declared language, so mixed text and a
wrong or "auto" language can never shrink the budget:

- a run of letters (Latin, Cyrillic, Greek, ...) counts one unit per
  `LETTERS_PER_UNIT` letters, at least one: long words take longer to say;
- every CJK ideograph, kana or Hangul syllable counts one unit, since those
  scripts write one syllable (or mora) per character and put no spaces between words;
- every decimal digit counts `DIGIT_UNITS`: digits expand when spoken
  ("1234" is "one thousand two hundred thirty-four"), and phone numbers are read
  digit by digit;
- clause and sentence punctuation counts one unit each, for the pause spoken there.
"""

from __future__ import annotations

import unicodedata

#: Codec frames per second of the Qwen3-TTS 12 Hz tokenizer (24000 Hz / 1920 samples).
FRAME_RATE_HZ = 12.5
#: Codec tokens allowed per spoken unit: 8 frames = 0.64 s.
TOKENS_PER_UNIT = 8
#: Floor: even "Hi." gets 10 s, enough for any short prompt plus leading silence.
MIN_TOKENS = 128
#: Ceiling: 2048 frames is about 164 s, the qwen-tts default; sentences never need more.
MAX_TOKENS = 2048
#: Letters that count as one unit within a word (an English syllable is about 3 letters).
LETTERS_PER_UNIT = 6
#: Units per decimal digit.
DIGIT_UNITS = 2

_PAUSE_PUNCTUATION = frozenset(",;:.!?…—–、。，；：！？・")


def _is_cjk(ch: str) -> bool:
    """Scripts written one syllable (or mora) per character, without spaces."""
    code = ord(ch)
    return (
        0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0x31F0 <= code <= 0x31FF  # katakana phonetic extensions
        or 0x3400 <= code <= 0x4DBF  # CJK extension A
        or 0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= code <= 0xFAFF  # CJK compatibility ideographs
        or 0xFF66 <= code <= 0xFF9F  # half-width katakana
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
        or 0x1100 <= code <= 0x11FF  # Hangul jamo
        or 0x20000 <= code <= 0x2FA1F  # CJK extensions B-F, compatibility supplement
    )


def speech_units(text: str) -> float:
    """Estimate how many spoken units `text` holds (see the module docstring)."""
    units = 0.0
    letters = 0  # length of the current run of non-CJK letters

    def close_word() -> float:
        nonlocal letters
        if letters == 0:
            return 0.0
        count = -(-letters // LETTERS_PER_UNIT)  # ceil
        letters = 0
        return float(count)

    for ch in text:
        if _is_cjk(ch):
            units += close_word() + 1
        elif ch.isdecimal():
            units += close_word() + DIGIT_UNITS
        elif ch.isalpha() or unicodedata.category(ch) == "Mn":
            letters += 1  # combining marks (e.g. Devanagari vowel signs) stay in their word
        elif ch in ("'", "’") and letters:
            continue  # "don't" is one word
        else:
            units += close_word()
            if ch in _PAUSE_PUNCTUATION:
                units += 1
    units += close_word()
    return units


def max_new_tokens(text: str, language: str | None = None) -> int:
    """The `max_new_tokens` to pass for one sentence of `text`.

    `language` is accepted so call sites can pass what they have, but counting is
    by script (see the module docstring): a mislabelled language cannot truncate speech.
    """
    del language
    budget = round(speech_units(text) * TOKENS_PER_UNIT)
    return max(MIN_TOKENS, min(MAX_TOKENS, budget))


def max_audio_seconds(tokens: int) -> float:
    """Longest audio a budget allows: `max_new_tokens=N` yields at most N-1 frames."""
    return max(0, tokens - 1) / FRAME_RATE_HZ
