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
        if not part.isdigit():  # a vanity number's letters: said as the word they spell
            spoken.append(part.replace("-", " ").lower())
        elif (
            profile.lang == "en"
            and part in _TOLL_FREE
            and index <= 1
            and (len(parts) >= 3 or not parts[-1].isdigit())
        ):
            spoken.append(words.digits(part[0], profile) + " hundred" if part[1:] == "00"
                          else words.digits(part, profile))  # fmt: skip
        else:
            spoken.append(words.digits(part, profile))
    if plus and spoken:
        # A language we have no word for keeps the sign, for the voice to say.
        spoken[0] = f"{profile.words.get('plus', '+')} {spoken[0]}"
    text = sep.join(spoken)
    if ext:
        text += f"{sep}{profile.word('extension')} {words.digits(ext, profile)}"
    return text


def rules(profile: Profile) -> list[Rule]:
    ext_re = EXT if "extension" in profile.words else "()"  # "()": the same group numbers

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

    def trunk(m: re.Match[str], ctx: Context) -> str | None:
        parts = re.findall(r"\d+", m.group(1))
        if not 9 <= sum(len(p) for p in parts) <= 12:
            return None
        return _groups(parts, profile, False, m.group(2))

    def mobile(m: re.Match[str], ctx: Context) -> str | None:
        number = m.group(0)
        return _groups([number[:3], number[3:7], number[7:]], profile, False, None)

    def vanity(m: re.Match[str], ctx: Context) -> str | None:
        country, area1, area2, letters = m.groups()
        if sum(ch.isalpha() for ch in letters) < 4:
            return None
        parts = [p for p in (country.lstrip("+") if country else None, area1 or area2) if p]
        return _groups([*parts, letters], profile, bool(country and country[0] == "+"), None)

    sep = r"[\s.-]"
    out = [
        Rule(
            "phone",
            re.compile(
                rf"{_START}(?:(\+?1){sep}?)?(?:\((\d{{3}})\)\s?|(\d{{3}}){sep})(\d{{3}}){sep}"
                rf"(\d{{4}}){ext_re}{NOT_BEFORE_WORD}(?![-.]\d)"
            ),
            north_american,
            "nanp",
        ),
        Rule(
            "phone",
            re.compile(
                # Possessive digit runs and groups: a failed match never re-splits the digits.
                rf"(?<![0-9A-Za-z_+])\+(\d{{1,4}}+(?:[\s.-]?(?:\d{{1,5}}+|\(\d{{1,5}}+\))){{1,6}}+)"
                rf"{ext_re}{NOT_BEFORE_WORD}"
            ),
            international,
            "international",
        ),
        # 010-1234-5678, 03-1234-5678, 030 1234567: a trunk prefix 0, then groups
        Rule(
            "phone",
            re.compile(
                rf"{_START}(0\d{{1,4}}+(?:-\d{{2,8}}+){{1,3}}+|0\d{{1,4}}+(?: \d{{3,8}}+){{1,2}}+)"
                rf"{ext_re}{NOT_BEFORE_WORD}(?![-.,/:]\d)"
            ),
            trunk,
            "trunk",
        ),
        Rule(
            "phone",
            re.compile(rf"{_START}(\d{{3}})-(\d{{4}}){ext_re}{NOT_BEFORE_WORD}(?![-.]\d)"),
            local,
            "local",
        ),
        Rule(
            "phone",
            re.compile(rf"{_START}(\d{{10,11}}){ext_re}{NOT_BEFORE_WORD}(?![-.,]\d)"),
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
    if profile.lang == "fr":  # 01 23 45 67 89: French numbers are said in pairs

        def pairs(m: re.Match[str], ctx: Context) -> str | None:
            first, *rest = m.group(0).split()
            said = [words.digits(first, profile)]
            said += [words.cardinal(int(p), profile) if p[0] != "0" else words.digits(p, profile)
                     for p in rest]  # fmt: skip
            return ", ".join(said)

        pairs_re = re.compile(rf"{_START}0\d(?: \d{{2}}){{4}}{NOT_BEFORE_WORD}(?![-.,]\d)")
        out.insert(0, Rule("phone", pairs_re, pairs, "pairs"))
    if profile.lang == "zh":  # a mainland mobile number, 11 digits from 13x-19x: 3-4-4
        mobile_re = re.compile(r"(?<![0-9])1[3-9]\d{9}(?![0-9])")
        out.append(Rule("phone", mobile_re, mobile, "mobile"))
    if profile.lang == "en":  # 1 (800) FLOWERS, 1-800-GOT-JUNK: the letters stay a word
        out.insert(
            0,
            Rule(
                "phone",
                re.compile(
                    rf"{_START}(?:(\+?1){sep}?)?(?:\((8[0-9]{{2}})\)\s?|(8[0-9]{{2}}){sep})"
                    r"([A-Z]{2,}(?:-[A-Z]{2,}){0,2})(?![A-Za-z0-9])"
                ),
                vanity,
                "vanity",
            ),
        )
    return out
