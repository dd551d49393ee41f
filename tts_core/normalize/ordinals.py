"""Ordinal numbers as each language writes them: 1st, 1er, 3., 1º, 2ª.

Why per language: the mark that makes a number ordinal differs, and so does what
it may be confused with. English and French put letters after the digits (1st,
1er), which nothing else uses. Spanish, Italian and Portuguese write º or ª,
whose gender the word must follow. German writes a dot, which also ends
sentences, so "3." is an ordinal only where an article or a preposition that
takes one comes before it and a word follows ("der 3. Platz", "am 3. Tag"); "Es
sind 3." stays a count.
"""

from __future__ import annotations

import re

from . import words
from .languages import Profile
from .rules import NOT_AFTER_WORD, NOT_BEFORE_WORD, Context, Rule

#: German words after which "3." is an ordinal, and the ending it takes there.
_DE_ARTICLES = {
    **dict.fromkeys("der die das".split(), ""),
    **dict.fromkeys("den dem des am im vom zum zur beim ins".split(), "n"),
}


def _feminine(word: str) -> str:
    """primero -> primera, vigésimo primero -> vigésima primera (es, it, pt)."""
    return " ".join(w[:-1] + "a" if w.endswith("o") else w for w in word.split())


def rules(profile: Profile) -> list[Rule]:
    """Ordinal numbers as each language writes them.

    English 1st, 22nd, 1,000th; French 1er, 1re, 2e, 3ème; Spanish, Italian and
    Portuguese 1º, 2ª (feminine); German "3." only after an article or a
    preposition that takes one ("der 3. Platz", "am 3. Tag"), because elsewhere
    the dot usually ends the sentence ("Es sind 3.").
    """
    lang = profile.lang

    def english(m: re.Match[str], ctx: Context) -> str | None:
        return words.ordinal(int(m.group(1).replace(",", "")), profile)

    def french(m: re.Match[str], ctx: Context) -> str | None:
        n, suffix = int(m.group(1)), m.group(2).lower()
        if n == 1:
            return "premier" if suffix == "er" else "première" if suffix in ("re", "ère") else None
        return words.ordinal(n, profile) if suffix in ("e", "ème", "è") else None

    def romance(m: re.Match[str], ctx: Context) -> str | None:
        said = words.ordinal(int(m.group(1)), profile)
        return _feminine(said) if m.group(2) == "ª" else said

    def german(m: re.Match[str], ctx: Context) -> str | None:
        ending = _DE_ARTICLES.get(ctx.prev_word())
        if ending is None or not re.match(r"\s+[A-Za-zÄÖÜäöüß]", ctx.after):
            return None
        return words.ordinal(int(m.group(1)), profile) + ending

    if lang == "en":
        pattern = r"(?<![0-9A-Za-z_,.])(\d{1,3}(?:,\d{3})+|\d{1,12})(?i:st|nd|rd|th)"
        return [Rule("ordinals", re.compile(pattern + NOT_BEFORE_WORD), english, "ordinal")]
    if lang == "fr":
        pattern = rf"{NOT_AFTER_WORD}(\d{{1,6}})(er|re|ère|ème|e|è)(?![A-Za-zÀ-ÿ0-9])"
        return [Rule("ordinals", re.compile(pattern), french, "ordinal")]
    if lang in ("es", "it", "pt"):
        pattern = rf"{NOT_AFTER_WORD}(\d{{1,6}})\.?([ºª])"
        return [Rule("ordinals", re.compile(pattern), romance, "ordinal")]
    if lang == "de":
        pattern = rf"{NOT_AFTER_WORD}(\d{{1,4}})\.(?![0-9])"
        return [Rule("ordinals", re.compile(pattern), german, "ordinal")]
    return []
