"""Dates and years: numeric dates read by locale, written dates, decades, year ranges.

The locale decides numeric dates: 12/03/2026 is December 3rd in en-US and 12
March everywhere else (`Profile.date_order`); a date that is only valid one way
(25/12/2026) is read that way whatever the locale. A bare "12/03" is a date only
after a word that announces one ("on", "due", "by", a weekday ...); otherwise it
is left to the number rules (a fraction). A four-digit number is a year when
something says so (a month, "in", "since", a range of years, a decade "1990s");
otherwise "2026 people" stays a count.
"""

from __future__ import annotations

import calendar
import re

from . import words
from .languages import MONTHS, Profile
from .rules import NOT_AFTER_WORD, NOT_BEFORE_WORD, Context, Rule

_EN_MONTHS = MONTHS["en"]
_MONTH_ABBR = {
    **{m.lower(): i + 1 for i, m in enumerate(_EN_MONTHS)},
    **{m[:3].lower(): i + 1 for i, m in enumerate(_EN_MONTHS)},
    "sept": 9,
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAY_ABBR = {
    **{d.lower(): d for d in WEEKDAYS},
    **{d[:3].lower(): d for d in WEEKDAYS},
    "tues": "Tuesday", "weds": "Wednesday", "thur": "Thursday", "thurs": "Thursday",
}  # fmt: skip

MONTH_RE = (
    r"(January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)(?:\.|(?![A-Za-z]))"
)
WEEKDAY_RE = (
    r"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|"
    r"Mon|Tues|Tue|Weds|Wed|Thurs|Thur|Thu|Fri|Sat|Sun)(?:\.|(?![A-Za-z]))"
)
_SUFFIX = r"(?:st|nd|rd|th)?"
_WD = r"(Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)"
_DATE_CUES = frozenset(
    "on by due until till from since before after through thru date dated expires expiry "
    "expiring starting ending effective born between".split()
    + [d.lower() for d in WEEKDAYS]
    + list(_WEEKDAY_ABBR)
)
#: Words after which a four-digit number is a year ("class of", "born in" end in one).
_YEAR_CUES = frozenset(
    "in since from until till by before after during of year circa around summer winter "
    "spring fall autumn early late mid through between".split()
)
_PERIOD_CUE = re.compile(r"(?i:Q[1-4]|H[12]|FY)")  # Q3 2024, H1 2025, FY 2026


#: German words after which an ordinal takes "-en": "am dritten", "den zwölften".
_DE_INFLECTED = frozenset("am im vom zum zur beim bis ab seit den dem des ins".split())


def _full_year(text: str) -> int:
    y = int(text)
    if len(text) == 2:
        return 2000 + y if y < 70 else 1900 + y
    return y


def _valid(y: int | None, m: int, d: int) -> bool:
    if not 1 <= m <= 12 or d < 1:
        return False
    last = calendar.monthrange(y if y else 2024, m)[1]  # 2024: Feb 29 allowed without a year
    return d <= last


def _ru_ordinal(n: int, profile: Profile, ending: str) -> str:
    word = words.ordinal(n, profile)
    for old in ("ый", "ой", "ий"):
        if word.endswith(old):
            stem = word[: -len(old)]
            if ending == "ое":
                return stem + ("ье" if old == "ий" else "ое")
            return stem + ("его" if old == "ий" else "ого")
    return word


def say_date(
    y: int | None, m: int, d: int | None, profile: Profile, style: str = "", prev: str = ""
) -> str:
    """A date in words for the profile's language. `style`: "dmy" forces the day-first reading
    in English ("the third of December"), "" lets the region choose."""
    lang = profile.lang
    if lang == "en":
        month = _EN_MONTHS[m - 1]
        year = f" {words.year(y, profile)}" if y else ""
        if d is None:
            return f"{month}{year}"
        day = words.ordinal(d, profile)
        if style == "dmy" or (not style and profile.date_order != "MDY"):
            return f"the {day} of {month}{year}"
        return f"{month} {day}{',' if year else ''}{year}"
    if lang in ("zh", "ja", "ko"):
        sep = " " if lang == "ko" else ""
        marks = {"zh": ("年", "月", "日"), "ja": ("年", "月", "日"), "ko": ("년", "월", "일")}[lang]
        parts = []
        if y:
            parts.append(words.year(y, profile) + marks[0])
        parts.append(words.cardinal(m, profile) + marks[1])
        if d:
            parts.append(words.cardinal(d, profile) + marks[2])
        return sep.join(parts)
    if lang not in MONTHS:
        parts = [words.cardinal(x, profile) for x in (d, m, y) if x]
        return " ".join(parts)
    month = MONTHS[lang][m - 1]
    year = words.cardinal(y, profile) if y else ""
    if d is None:
        day = ""
    elif lang == "fr":
        day = "premier" if d == 1 else words.cardinal(d, profile)
    elif lang == "de":
        # "am dritten Dezember" after a preposition or "den", "der dritte Dezember" otherwise.
        day = words.ordinal(d, profile)
        if prev in _DE_INFLECTED:
            day += "n"
        elif prev not in ("der", "die", "das"):
            day = "der " + day
    elif lang == "ru":
        day = _ru_ordinal(d, profile, "ое")
        year = f"{_ru_ordinal(y, profile, 'ого')} года" if y else ""
    elif lang in ("es", "pt", "it"):
        first = {"es": "primero", "pt": "primeiro", "it": "primo"}[lang]
        day = first if d == 1 else words.cardinal(d, profile)
    else:
        day = words.cardinal(d, profile)
    if lang in ("es", "pt"):
        text = f"{day} de {month}" if day else month
        return f"{text} de {year}" if year else text
    return " ".join(p for p in (day, month, year) if p)


def _numeric_order(a: int, b: int, y: int | None, profile: Profile) -> tuple[int, int] | None:
    """(month, day) for a numeric a/b date under the locale, or the only valid reading."""
    first = (a, b) if profile.date_order == "MDY" else (b, a)
    second = (first[1], first[0])
    for m, d in (first, second):
        if _valid(y, m, d):
            return m, d
    return None


def _decade(m: re.Match[str], profile: Profile) -> str:
    century, tens = m.group(1), int(m.group(2))
    if tens == 0:
        if not century:
            return "noughties"
        return words.year(int(century + "00"), profile) + "s"
    word = words.cardinal(tens * 10, profile)
    plural = word[:-1] + "ies" if word.endswith("y") else word + "s"  # nineties, tens
    if not century:
        return plural
    if century == "20":
        return f"twenty {plural}"
    return f"{words.cardinal(int(century), profile)} {plural}"


def rules(profile: Profile) -> list[Rule]:
    out: list[Rule] = []

    def iso(m: re.Match[str], ctx: Context) -> str | None:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return say_date(y, mo, d, profile, prev=ctx.prev_word()) if _valid(y, mo, d) else None

    def numeric(m: re.Match[str], ctx: Context) -> str | None:
        y = _full_year(m.group(4))
        order = _numeric_order(int(m.group(1)), int(m.group(3)), y, profile)
        if order:
            return say_date(y, *order, profile, prev=ctx.prev_word())
        # 13/13/2026 is no date: say what was written, part by part
        sep = profile.word({"/": "slash", ".": "dot", "-": "dash"}[m.group(2)])
        parts = [words.cardinal(int(m.group(1)), profile), words.cardinal(int(m.group(3)), profile)]
        year = words.year(y, profile) if len(m.group(4)) == 4 else words.cardinal(y % 100, profile)
        return f" {sep} ".join([*parts, year])

    def short(m: re.Match[str], ctx: Context) -> str | None:
        if ctx.prev_word() not in _DATE_CUES:
            return None
        order = _numeric_order(int(m.group(1)), int(m.group(2)), None, profile)
        return say_date(None, *order, profile, prev=ctx.prev_word()) if order else None

    out.append(
        Rule("dates", re.compile(rf"{NOT_AFTER_WORD}(\d{{4}})[-/.](\d{{1,2}})[-/.](\d{{1,2}})"
                                 rf"{NOT_BEFORE_WORD}(?![-/.]\d)"), iso, "iso-date")
    )  # fmt: skip
    if profile.date_order != "YMD":
        out.append(
            Rule(
                "dates",
                re.compile(
                    rf"{NOT_AFTER_WORD}(\d{{1,2}})([/.-])(\d{{1,2}})\2(\d{{4}}|\d{{2}})"
                    rf"{NOT_BEFORE_WORD}(?![-/.]\d)"
                ),
                numeric,
                "numeric-date",
            )
        )
        out.append(
            Rule("dates", re.compile(rf"{NOT_AFTER_WORD}(\d{{1,2}})/(\d{{1,2}}){NOT_BEFORE_WORD}"
                                     r"(?!/\d)"), short, "short-date")
        )  # fmt: skip
    if profile.lang == "zh":
        out.append(
            Rule("dates", re.compile(r"(?<![0-9])(\d{4})(?=年)"),
                 lambda m, ctx: words.year(int(m.group(1)), profile), "zh-year")
        )  # fmt: skip
    if profile.lang == "en":
        out.extend(_english_rules(profile))
    if profile.lang == "de":
        out.extend(_german_rules(profile))
    return out


_DE_MONTHS = {m.lower(): i + 1 for i, m in enumerate(MONTHS["de"])} | {
    m[:3].lower(): i + 1 for i, m in enumerate(MONTHS["de"]) if m != "Mai"
} | {"sept": 9}  # fmt: skip


def _german_rules(profile: Profile) -> list[Rule]:
    """ "am 3. Mai 2026", "3.4." and "bis 12.3.": German writes the day as an ordinal."""
    month_names = "|".join(sorted((m.capitalize() for m in _DE_MONTHS), key=len, reverse=True))

    def day_month(m: re.Match[str], ctx: Context) -> str | None:
        day, month = int(m.group(1)), _DE_MONTHS[m.group(2).lower()]
        y = int(m.group(3)) if m.group(3) else None
        if not _valid(y, month, day):
            return None
        return say_date(y, month, day, profile, prev=ctx.prev_word())

    def dotted(m: re.Match[str], ctx: Context) -> str | None:
        day, month = int(m.group(1)), int(m.group(2))
        if not _valid(None, month, day):
            return None
        spoken = say_date(None, month, day, profile, prev=ctx.prev_word())
        if ctx.at_end() or re.match(r"\s+[A-ZÄÖÜ]", ctx.after):
            return spoken + "."  # the date's dot also ended the sentence
        return spoken

    return [
        Rule("dates", re.compile(rf"{NOT_AFTER_WORD}(\d{{1,2}})\.\s?({month_names})\.?"
                                 rf"(?![A-Za-zäöü])(?:\s+(\d{{4}}))?{NOT_BEFORE_WORD}"),
             day_month, "de-day-month"),
        Rule("dates", re.compile(rf"{NOT_AFTER_WORD}(\d{{1,2}})\.(\d{{1,2}})\.(?![0-9])"),
             dotted, "de-day-month-numeric"),
    ]  # fmt: skip


def _english_rules(profile: Profile) -> list[Rule]:
    def weekday(name: str | None) -> str:
        return f"{_WEEKDAY_ABBR[name.lower()]}, " if name else ""

    def month_day(m: re.Match[str], ctx: Context) -> str | None:
        wd, mon, day, yr = m.group(1), m.group(2), int(m.group(3)), m.group(4)
        month = _MONTH_ABBR[mon.lower()]
        y = int(yr) if yr else None
        if not _valid(y, month, day):
            if day > 99:
                return None
            # "Feb 30 2024" is no date, but the month is still a month: "February thirty"
            year = f", {words.year(y, profile)}" if y else ""
            said = f"{_EN_MONTHS[month - 1]} {words.cardinal(day, profile)}{year}"
            return weekday(wd) + said
        return weekday(wd) + say_date(y, month, day, profile, "mdy")

    def day_month(m: re.Match[str], ctx: Context) -> str | None:
        wd, day, mon, yr = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        month = _MONTH_ABBR[mon.lower()]
        y = int(yr) if yr else None
        if not _valid(y, month, day):
            return None
        return weekday(wd) + say_date(y, month, day, profile, "dmy")

    def month_year(m: re.Match[str], ctx: Context) -> str | None:
        return say_date(int(m.group(2)), _MONTH_ABBR[m.group(1).lower()], None, profile)

    def weekday_range(m: re.Match[str], ctx: Context) -> str | None:
        spoken = f"{_WEEKDAY_ABBR[m.group(1).lower()]} to {_WEEKDAY_ABBR[m.group(2).lower()]}"
        return spoken + "." if m.group(0).endswith(".") and ctx.at_end() else spoken

    def decade(m: re.Match[str], ctx: Context) -> str | None:
        return _decade(m, profile)

    def year_range(m: re.Match[str], ctx: Context) -> str | None:
        a, b = int(m.group(1)), m.group(2)
        end = int(b) if len(b) == 4 else a // 100 * 100 + int(b)
        if not a < end <= 2999:
            return None
        return f"{words.year(a, profile)} to {words.year(end, profile)}"

    def cued_year(m: re.Match[str], ctx: Context) -> str | None:
        cue = m.group(1)
        if cue.lower() not in _YEAR_CUES and not _PERIOD_CUE.fullmatch(cue):
            return None  # "2026 apples" after any other word stays a count
        if re.fullmatch(r"[QqHh][1-4]", cue):  # Q3 2024: a quarter, then its year
            cue = f"{cue[0].upper()} {words.cardinal(int(cue[1]), profile)}"
        elif cue.upper() == "FY":
            cue = "F Y"
        return f"{cue} {words.year(int(m.group(2)), profile)}"

    year = r"(1[0-9]{3}|20[0-9]{2})"
    wd = rf"(?:{WEEKDAY_RE},?\s+)?"
    return [
        Rule(
            "dates",
            re.compile(rf"(?<![A-Za-z]){wd}{MONTH_RE}\s+(?:the\s+)?(\d{{1,2}}){_SUFFIX}"
                       rf"(?:,?\s+{year})?{NOT_BEFORE_WORD}(?!:\d)"),
            month_day,
            "month-day",
        ),
        Rule(
            "dates",
            re.compile(rf"(?<![A-Za-z]){wd}(?:the\s+)?(\d{{1,2}}){_SUFFIX}\s+(?:of\s+)?{MONTH_RE}"
                       rf"(?:,?\s+{year})?{NOT_BEFORE_WORD}"),
            day_month,
            "day-month",
        ),
        Rule("dates", re.compile(rf"(?<![A-Za-z]){MONTH_RE},?\s+{year}{NOT_BEFORE_WORD}"),
             month_year, "month-year"),
        Rule("dates", re.compile(rf"(?<![A-Za-z]){_WD}\.?\s?[-–]\s?{_WD}\.?(?![A-Za-z])"),
             weekday_range, "weekday-range"),
        Rule("dates", re.compile(rf"(?<![0-9A-Za-z])['’]?(1[0-9]|20)?([0-9])0s"
                                 rf"{NOT_BEFORE_WORD}"), decade, "decade"),
        Rule("dates", re.compile(rf"{NOT_AFTER_WORD}{year}\s?[-–]\s?(\d{{4}}|\d{{2}})"
                                 rf"{NOT_BEFORE_WORD}(?![-–]\d)"), year_range, "year-range"),
        # Any word, then the year; the word is checked in Python. Starting with a letter
        # (and looking back only after it) lets the scan skip everything else quickly.
        Rule("dates", re.compile(rf"([A-Za-z](?<![A-Za-z0-9][A-Za-z])[A-Za-z0-9]*+)\s+{year}"
                                 rf"(?![0-9]|[.,]\d|\s?%)"), cued_year, "year"),
    ]  # fmt: skip
