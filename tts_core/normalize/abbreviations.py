"""Common abbreviations (English) and symbols, with context deciding the reading.

"Dr." before a name is Doctor ("Dr. Smith"); after a street name it is Drive
("Oak Dr."). "St." before a name is Saint ("St. Louis"), after a street name or
a house number it is Street ("Main St.", "12 St."). The test is the word
before: a capitalised word that does not start the sentence, or a number, makes
it a street. A month or weekday abbreviation is expanded only where it cannot be
a word ("Mar." with its full stop, never "mar"); "No. 5" is "number five" but
"No." alone stays "no". When an abbreviation's full stop also ends the sentence
it is kept.

Symbols a voice would skip or mispronounce become words: & and, @ at, + plus,
= equals, ~ about, ± plus or minus, # hashtag, a lone # number; "and/or" is
"and or", "w/" is "with", "c/o" "care of", "n/a" "not applicable", and a slash
between words is "slash". "Mr.", "Mrs.", "Ms." and "Prof." with their dot are
always titles; others only before a name or before "and Mrs. ...".
"""

from __future__ import annotations

import re

from .dates import _MONTH_ABBR, _WEEKDAY_ABBR, MONTHS
from .languages import Profile
from .rules import NOT_BEFORE_WORD, WORD, Context, Rule

TITLES = {
    "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor", "Sgt": "Sergeant",
    "Capt": "Captain", "Lt": "Lieutenant", "Col": "Colonel", "Gen": "General",
    "Rev": "Reverend", "Gov": "Governor", "Pres": "President", "Hon": "Honorable",
}  # fmt: skip
SUFFIXES = {"Jr": "Junior", "Sr": "Senior"}
STREETS = {
    "Ave": "Avenue", "Blvd": "Boulevard", "Rd": "Road", "Ln": "Lane", "Ct": "Court",
    "Pl": "Place", "Hwy": "Highway", "Pkwy": "Parkway", "Sq": "Square", "Ter": "Terrace",
    "Cir": "Circle", "Apt": "Apartment", "Ste": "Suite", "Bldg": "Building", "Fl": "Floor",
}  # fmt: skip
PLAIN = {
    "vs": "versus", "etc": "et cetera", "approx": "approximately", "dept": "department",
    "Dept": "Department", "Ltd": "Limited", "Corp": "Corporation", "Bros": "Brothers",
    "Mt": "Mount", "Ft": "Fort", "est": "estimated", "min": "minimum", "max": "maximum",
    "tel": "telephone", "Tel": "telephone", "govt": "government", "Univ": "University",
    "Intl": "International", "Assn": "Association", "Co": "Company",
}  # fmt: skip
LATIN = {"e.g.": "for example", "i.e.": "that is", "a.k.a.": "also known as", "P.S.": "P S"}

_NAMES = "|".join(
    sorted({*TITLES, *SUFFIXES, *STREETS, *PLAIN, "Dr", "St", "No", "no"}, key=len, reverse=True)
)
_CALENDAR = "|".join(
    sorted({k.capitalize() for k in (*_MONTH_ABBR, *_WEEKDAY_ABBR)} - set(MONTHS["en"])
           - {"May"}, key=len, reverse=True)
)  # fmt: skip
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s*|[\"“(]\s*)$")


def _street_before(ctx: Context) -> bool:
    """The word before is a number or a capitalised word that does not open the sentence."""
    match = re.search(rf"([{WORD}'’]+)(\.?)\s+$", ctx.before)
    if not match:
        return False
    word = match.group(1)
    if word[0].isdigit():
        return True
    if not word[0].isupper():
        return False
    head = ctx.before[: match.start()]
    return not _SENTENCE_START.search(head)


def _name_after(ctx: Context) -> bool:
    return bool(re.match(r"\s+[A-Z]", ctx.after))


#: Titles that, written with their dot, are never anything else ("Gen." may be Genesis).
_CERTAIN_TITLES = frozenset({"Mr", "Mrs", "Ms", "Prof", "Sgt", "Capt", "Lt"})
_TITLE_AFTER = re.compile(rf"\s+(?:and|&)\s+(?:{'|'.join(TITLES)}|Dr)\b")


def _title_after(ctx: Context) -> bool:
    return bool(_TITLE_AFTER.match(ctx.after))


def _keep_stop(spoken: str, dot: str, ctx: Context) -> str:
    return spoken + "." if dot and ctx.at_end() else spoken


def rules(profile: Profile) -> list[Rule]:
    if profile.lang != "en":
        return []

    def abbreviation(m: re.Match[str], ctx: Context) -> str | None:
        name, dot = m.group(1), m.group(2)
        if name in ("Dr", "St"):
            street = _street_before(ctx)
            if name == "Dr":
                spoken = "Drive" if street else "Doctor"
            else:
                spoken = "Street" if street or not _name_after(ctx) else "Saint"
            return _keep_stop(spoken, dot, ctx)
        if name in ("No", "no"):
            return "number" if re.match(r"\s?[0-9#]", ctx.after) and dot else None
        if name in TITLES:
            # "Mr." with its dot is always Mister; a title before "and Mrs. Brown" too
            certain = dot and name in _CERTAIN_TITLES
            return TITLES[name] if certain or _name_after(ctx) or _title_after(ctx) else None
        if name in SUFFIXES:
            return _keep_stop(SUFFIXES[name], dot, ctx) if dot or _street_before(ctx) else None
        if name in STREETS:
            return _keep_stop(STREETS[name], dot, ctx) if dot or _street_before(ctx) else None
        if name in PLAIN and dot:
            return _keep_stop(PLAIN[name], dot, ctx)
        return None

    def calendar(m: re.Match[str], ctx: Context) -> str | None:
        key = m.group(1).lower()
        full = _WEEKDAY_ABBR.get(key) or MONTHS["en"][_MONTH_ABBR[key] - 1]
        return _keep_stop(full, ".", ctx)

    def latin(m: re.Match[str], ctx: Context) -> str | None:
        return _keep_stop(LATIN[m.group(0)], ".", ctx)

    return [
        Rule("abbreviations", re.compile(r"(?<![A-Za-z.])(?:e\.g\.|i\.e\.|a\.k\.a\.|P\.S\.)"),
             latin, "latin"),
        Rule("abbreviations", re.compile(rf"(?<![{WORD}.])({_NAMES})(\.?){NOT_BEFORE_WORD}"
                                         r"(?!\.\w)"), abbreviation, "abbreviation"),
        Rule("abbreviations", re.compile(rf"(?<![{WORD}.])({_CALENDAR})\."), calendar,
             "calendar"),
    ]  # fmt: skip


_AND = {"en": "and", "fr": "et", "de": "und", "es": "y", "it": "e", "pt": "e", "ru": "и"}
#: Slash shorthand a voice would read letter by letter: c/o, n/a, w/o.
_SHORTHAND = {"c/o": "care of", "n/a": "not applicable", "w/o": "without"}


def symbol_rules(profile: Profile) -> list[Rule]:
    and_word = _AND.get(profile.lang)
    if and_word is None:
        return []
    english = profile.lang == "en"

    def ampersand(m: re.Match[str], ctx: Context) -> str | None:
        return f" {and_word} "

    def word_symbol(m: re.Match[str], ctx: Context) -> str | None:
        symbol = m.group(0).strip()
        spoken = {
            "@": "at", "+": "plus", "=": "equals", "±": "plus or minus", "~": "about",
            "×": "times", "°": "degrees", "%": "percent", "#": "number",
        }.get(symbol)  # fmt: skip
        return f" {spoken} " if spoken else None

    def slash(m: re.Match[str], ctx: Context) -> str | None:
        left, right = m.group(1), m.group(2)
        if (left.lower(), right.lower()) == ("and", "or"):
            return "and or"
        return f"{left} slash {right}"

    def shorthand(m: re.Match[str], ctx: Context) -> str | None:
        return _SHORTHAND[m.group(0).lower()]

    def hashtag(m: re.Match[str], ctx: Context) -> str | None:
        return f"hashtag {m.group(1)}"

    out = [Rule("symbols", re.compile(r"\s?&\s?"), ampersand, "ampersand")]
    if english:
        out += [
            Rule("symbols", re.compile(r"(?<![A-Za-z/])(?i:c/o|n/a|w/o)(?![A-Za-z/])"), shorthand,
                 "shorthand"),
            Rule("symbols", re.compile(r"(?<![A-Za-z])[Ww]/(?=\s)"), lambda m, c: "with", "with"),
            Rule("symbols", re.compile(rf"(?<![{WORD}/])([A-Za-z]{{2,}})/([A-Za-z]{{2,}})"
                                       rf"(?![{WORD}/])"), slash, "slash"),
            Rule("symbols", re.compile(r"(?<![A-Za-z0-9_&])#([A-Za-z][A-Za-z0-9_]*)"), hashtag,
                 "hashtag"),
            Rule("symbols", re.compile(r"\s?[@+=±~×°%]\s?|(?:(?<=\s)|^)#(?=\s)"), word_symbol,
                 "symbol"),
        ]  # fmt: skip
    return out
