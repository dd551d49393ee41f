"""Times of day: 12- and 24-hour clocks, a.m./pm in every spelling.

A time needs two-digit minutes ("3:30", "15:05"); "3:2" or "16:9" is a ratio,
and after a score word ("won 21:14") the number rules read "to". Readings:
"3:05 pm" is "three oh five p m", "9:00" "nine o'clock", "15:00" "fifteen
hundred", "15:30" "fifteen thirty", "5pm" "five p m", "14:05h" "fourteen oh
five". Without a clock word before it ("at", "by" ...), "1:02:03" is a duration
("one hour two minutes and three seconds") and so is "25:30", which no clock
shows ("twenty-five minutes and thirty seconds"); "at 25:00" says what was
written ("twenty-five hundred"). Other languages use their clock words: "15:30"
is "quinze heures trente", "fünfzehn Uhr dreißig", "十五点三十分"; "9h" is "neuf
heures", "1 Uhr" "ein Uhr", and Korean counts hours 1-12 in native numerals
("3시" is "세 시").
"""

from __future__ import annotations

import re

from . import words
from .languages import Profile
from .rules import NOT_AFTER_WORD, Context, Rule

AMPM = r"([AaPp])\.?\s?[Mm]\.?(?![A-Za-z])"
_SCORE_CUES = frozenset(
    "score scored scores won win wins lost lose loses beat beats ratio odds record final "
    "aspect tied".split()
)
#: Words after which "1:02:03" or "25:00" is a clock reading, not a duration.
_CLOCK_CUES = frozenset("at by until till from since before after around about".split())
#: Korean hours 0-12 in native numerals (0 o'clock is twelve).
_KO_HOURS = (
    "열두", "한", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉", "열", "열한", "열두",
)  # fmt: skip


def _duration(h: int, m: int, s: int | None, profile: Profile) -> str:
    """ "1:02:03" is one hour two minutes and three seconds; zero parts are left out."""
    parts = []
    for value, unit in ((h, "hour"), (m, "minute"), (s or 0, "second")):
        if value:
            parts.append(f"{words.cardinal(value, profile)} {unit}{'' if value == 1 else 's'}")
    if not parts:
        return "zero seconds"
    return parts[0] if len(parts) == 1 else f"{' '.join(parts[:-1])} and {parts[-1]}"


def _valid(h: int, m: int, s: int | None, ampm: bool) -> bool:
    if ampm and not 1 <= h <= 12:
        return False
    return 0 <= h <= 23 and 0 <= m <= 59 and (s is None or 0 <= s <= 59)


def _minutes_en(value: int, profile: Profile) -> str:
    if value == 0:
        return "hundred"
    if value < 10:
        return f"oh {words.cardinal(value, profile)}"
    return words.cardinal(value, profile)


def _english(h: int, m: int, s: int | None, ampm: str | None, profile: Profile) -> str:
    def minutes(value: int) -> str:
        return _minutes_en(value, profile)

    if ampm:
        spoken = words.cardinal(h, profile)
        if m:
            spoken += f" {minutes(m)}"
        spoken += " a m" if ampm.lower() == "a" else " p m"
    elif h == 0:
        spoken = "twelve" + (f" {minutes(m)}" if m else "") + " a m"
    elif m == 0:
        spoken = words.cardinal(h, profile) + (" o'clock" if h <= 12 else " hundred")
    else:
        spoken = f"{words.cardinal(h, profile)} {minutes(m)}"
    if s:
        unit = "second" if s == 1 else "seconds"
        spoken += f" and {words.cardinal(s, profile)} {unit}"
    return spoken


def say_time(h: int, m: int, s: int | None, ampm: str | None, profile: Profile) -> str:
    lang = profile.lang
    if lang == "en":
        return _english(h, m, s, ampm, profile)
    if ampm and ampm.lower() == "p" and h < 12:
        h += 12
    hour = words.cardinal(h, profile)
    mins = words.cardinal(m, profile)
    if lang == "ko" and 1 <= h <= 12:
        hour = _KO_HOURS[h]  # hours are counted in native numerals: 세 시, 열두 시
    if lang in ("zh", "ja", "ko"):
        marks = {"zh": ("点", "分"), "ja": ("時", "分"), "ko": ("시", "분")}[lang]
        sep = " " if lang == "ko" else ""
        spoken = f"{hour}{sep}{marks[0]}"
        if m:
            pad = "零" if lang == "zh" and m < 10 else ""
            spoken += f"{sep}{pad}{mins}{sep}{marks[1]}"
        return spoken
    if lang == "fr":
        unit = profile.words["hour1"] if h == 1 else profile.words["hour"]
        hour = "une" if h == 1 else hour
        return f"{hour} {unit}" + (f" {mins}" if m else "")
    if lang == "de":
        return f"{_de_hour(h, profile)} Uhr" + (f" {mins}" if m else "")
    if lang in ("es", "it", "pt"):
        if not m:
            return hour + {"es": " en punto", "it": " in punto", "pt": " em ponto"}[lang]
        return f"{hour} {profile.words['hour']} {mins}"
    if lang == "ru":
        return f"{hour} {mins if m else 'ноль ноль'}"
    return f"{hour} {mins}"


def _de_hour(h: int, profile: Profile) -> str:
    return "ein" if h == 1 else words.cardinal(h, profile)  # "ein Uhr", never "eins Uhr"


def rules(profile: Profile) -> list[Rule]:
    english = profile.lang == "en"

    def colon(m: re.Match[str], ctx: Context) -> str | None:
        h, mi = int(m.group(1)), int(m.group(2))
        s = int(m.group(3)) if m.group(3) else None
        ampm = m.group(4)
        if not ampm and _SCORE_CUES.intersection(ctx.prev_words(3)):
            return None
        if english and not ampm:
            clock = ctx.prev_word() in _CLOCK_CUES
            if s is not None and not clock and _valid(0, mi, s, False):
                return _duration(h, mi, s, profile)  # "lap time 1:02:03"
            if 24 <= h <= 99 and mi <= 59 and s is None:
                if clock:  # "meet at 25:00": not a time of day; say what was written
                    return f"{words.cardinal(h, profile)} {_minutes_en(mi, profile)}"
                return _duration(0, h, mi, profile)  # "it took 25:30": minutes and seconds
        if not _valid(h, mi, s, bool(ampm)):
            return None
        spoken = say_time(h, mi, s, ampm, profile)
        if english and m.group(5):  # "14:05h", "14:05 hrs"
            spoken += " hours" if m.group(5).lower() == "hrs" else ""
        return _finish(spoken, m, ctx)

    def dotted(m: re.Match[str], ctx: Context) -> str | None:
        h, mi = int(m.group(1)), int(m.group(2))
        if not _valid(h, mi, None, True):
            return None
        return _finish(say_time(h, mi, None, m.group(3), profile), m, ctx)

    def hour_only(m: re.Match[str], ctx: Context) -> str | None:
        h = int(m.group(1))
        if not _valid(h, 0, None, True):
            return None
        return _finish(say_time(h, 0, None, m.group(2), profile), m, ctx)

    def hour_word(m: re.Match[str], ctx: Context) -> str | None:
        h = int(m.group(1))
        if h > 24:
            return None
        if profile.lang == "fr":
            return "une heure" if h == 1 else f"{words.cardinal(h, profile)} heures"
        if profile.lang == "de":
            return f"{_de_hour(h, profile)} Uhr"
        said = _KO_HOURS[h] if 1 <= h <= 12 else words.cardinal(h, profile)
        return f"{said} 시{m.group(2) or ''}"

    sep = "(?::|h)" if profile.lang == "fr" else ":"
    if english:
        ampm = rf"(?:\s?{AMPM}|\s?(h|hrs)(?![A-Za-z]))?"
    else:
        ampm = r"()()(?:\s?Uhr)?" if profile.lang == "de" else "()()"
    out = [
        Rule(
            "times",
            re.compile(rf"{NOT_AFTER_WORD}(\d{{1,2}}){sep}(\d{{2}})(?::(\d{{2}}))?{ampm}(?![0-9])"),
            colon,
            "clock",
        )
    ]
    hours = {
        "fr": rf"{NOT_AFTER_WORD}(\d{{1,2}})\s?h(?![A-Za-z0-9])()",  # 9h, 15 h
        "de": rf"{NOT_AFTER_WORD}(\d{{1,2}})\s?Uhr(?![A-Za-z])()",  # 1 Uhr
        "ko": r"(?<![0-9])(\d{1,2})\s?시(간)?",  # 3시, 3시간 (three hours): 세 시, 세 시간
    }
    if profile.lang in hours:
        out.append(Rule("times", re.compile(hours[profile.lang]), hour_word, "hour-word"))
    if english:
        out.append(
            Rule("times", re.compile(rf"{NOT_AFTER_WORD}(\d{{1,2}})\.(\d{{2}})\s?{AMPM}"),
                 dotted, "dotted-clock")
        )  # fmt: skip
        out.append(
            Rule("times", re.compile(rf"{NOT_AFTER_WORD}(\d{{1,2}})\s?{AMPM}"), hour_only, "hour")
        )
    return out


def _finish(spoken: str, m: re.Match[str], ctx: Context) -> str:
    """Keep a sentence's full stop that the abbreviation "p.m." swallowed."""
    if m.group(0).endswith(".") and ctx.at_end():
        return spoken + "."
    return spoken
