"""Phone numbers, read digit by digit in the groups they were written in.

A phone number is recognised by its shape, not its length: North American
(555) 123-4567, 555-123-4567, 555.123.4567, 1-800-555-0199, 555-1234; any
number written with a leading + and two to six groups (+44 20 7946 0958); and
a run of 10 or 11 bare digits after a word like "call" or "phone". "1,234,567"
(thousands separators) and "2020-2024" (a range of years) do not have a phone
number's shape, so they stay numbers. Groups are separated by a comma, which a
voice speaks as the short pause a person leaves; "0" is "zero" (recognizers and
listeners confuse "oh" with "four" and with nothing at all); "x123" and "ext. 123"
are "extension one two three".
"""

from __future__ import annotations

import re

from . import words
from .languages import Profile
from .rules import NOT_BEFORE_WORD, Context, Rule

EXT = r"(?:\s*,?\s*(?:ext\.?|x|extension|Ext\.?|EXT\.?|Durchwahl|poste)\s*(\d{1,6}))?"
_START = r"(?<![0-9A-Za-z+_.,/-])"
_CUES = frozenset(
    "call calling phone telephone tel cell mobile number fax text dial reach us me at on "
    "line hotline whatsapp sms".split()
)
_TOLL_FREE = frozenset({"800", "888", "877", "866", "855", "844", "833"})


def _groups(parts: list[str], profile: Profile, plus: bool, ext: str | None) -> str:
    sep = "、" if profile.lang in ("zh", "ja") else ", "
    spoken: list[str] = []
    for index, part in enumerate(parts):
        if profile.lang == "en" and part in _TOLL_FREE and index <= 1 and len(parts) >= 3:
            spoken.append(words.digits(part[0], profile) + " hundred" if part[1:] == "00"
                          else words.digits(part, profile))  # fmt: skip
        else:
            spoken.append(words.digits(part, profile))
    if plus and spoken:
        spoken[0] = f"{profile.word('plus')} {spoken[0]}"
    text = sep.join(spoken)
    if ext:
        text += f"{sep}{profile.word('extension')} {words.digits(ext, profile)}"
    return text


def rules(profile: Profile) -> list[Rule]:
    def north_american(m: re.Match[str], ctx: Context) -> str | None:
        country, area1, area2, exchange, line, ext = m.groups()
        parts = [p for p in (country.lstrip("+") if country else None, area1 or area2,
                             exchange, line) if p]  # fmt: skip
        return _groups(parts, profile, bool(country and country.startswith("+")), ext)

    def international(m: re.Match[str], ctx: Context) -> str | None:
        body, ext = m.group(1), m.group(2)
        parts = re.findall(r"\d+", body)
        digits = sum(len(p) for p in parts)
        if not 7 <= digits <= 15 or len(parts) < 2:
            return None
        return _groups(parts, profile, True, ext)

    def local(m: re.Match[str], ctx: Context) -> str | None:
        return _groups([m.group(1), m.group(2)], profile, False, m.group(3))

    def bare(m: re.Match[str], ctx: Context) -> str | None:
        digits = m.group(1)
        if not set(ctx.prev_words(3)) & _CUES:
            return None
        if len(digits) == 11 and not digits.startswith("1"):
            return None
        parts = [digits[:-10], digits[-10:-7], digits[-7:-4], digits[-4:]]
        return _groups([p for p in parts if p], profile, False, m.group(2))

    def dialed(m: re.Match[str], ctx: Context) -> str | None:
        return f"{m.group(1)} {words.digits(m.group(2), profile)}"

    sep = r"[\s.-]"
    return [
        Rule(
            "phone",
            re.compile(
                rf"{_START}(?:(\+?1){sep}?)?(?:\((\d{{3}})\)\s?|(\d{{3}}){sep})(\d{{3}}){sep}"
                rf"(\d{{4}}){EXT}{NOT_BEFORE_WORD}(?![-.]\d)"
            ),
            north_american,
            "nanp",
        ),
        Rule(
            "phone",
            re.compile(
                # Possessive digit runs and groups: a failed match never re-splits the digits.
                rf"(?<![0-9A-Za-z_+])\+(\d{{1,4}}+(?:[\s.-]?(?:\d{{1,5}}+|\(\d{{1,5}}+\))){{1,6}}+)"
                rf"{EXT}{NOT_BEFORE_WORD}"
            ),
            international,
            "international",
        ),
        Rule(
            "phone",
            re.compile(rf"{_START}(\d{{3}})-(\d{{4}}){EXT}{NOT_BEFORE_WORD}(?![-.]\d)"),
            local,
            "local",
        ),
        Rule(
            "phone",
            re.compile(rf"{_START}(\d{{10,11}}){EXT}{NOT_BEFORE_WORD}(?![-.,]\d)"),
            bare,
            "bare",
        ),
        # "call 911", "dial 311": short service numbers are said digit by digit
        Rule(
            "phone",
            re.compile(
                rf"(?<![A-Za-z])((?i:call|dial|text|phone))\s+(\d{{3,6}})"
                rf"{NOT_BEFORE_WORD}(?![.,:]\d)"
            ),
            dialed,
            "dialed",
        ),
    ]
