"""Cardinals, decimals, signs, ranges, ratios, fractions, ordinals and percentages.

Readings decided here:
- "1,234" is one thousand two hundred thirty-four, never "one, two hundred ...":
  separators are parsed by the language's convention (`words.parse_number`);
- a leading zero ("007"), or ten digits and more without separators, is an
  identifier, read digit by digit in groups;
- "-5" after a space is "minus five", but "5-7" is a range ("five to seven") and
  "3:2" (one-digit second part, so not a time) a ratio ("three to two");
- "3/4" is three quarters, "24/7" twenty-four seven, other small slashes "over".
"""

from __future__ import annotations

import re

from . import words
from .languages import Profile
from .rules import NOT_AFTER_WORD, NOT_BEFORE_WORD, Context, Rule

# A number as English writes it, and as decimal-comma languages write it.
NUM_POINT = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
NUM_COMMA = r"(?:\d{1,3}(?:[. \u00a0\u202f'’]\d{3})+|\d+)(?:,\d+)?|\d+\.\d+"
SIGN = r"(?:(?<![^\s(\[\"'“])[-−+])?"


def number_re(profile: Profile) -> str:
    return NUM_COMMA if profile.decimal_comma else NUM_POINT


def say_number(text: str, profile: Profile) -> str | None:
    """A written number in words by the rules above, or None if it is not one."""
    parsed = words.parse_number(text, profile)
    if parsed is None:
        return None
    sign, whole, frac = parsed
    plain = text.strip().lstrip("+-−–")
    if (
        not frac
        and whole
        and (
            (len(whole) > 1 and whole.startswith("0") and plain == whole)
            or (len(whole) >= 10 and plain == whole)
            or len(whole) > words.MAX_CARDINAL_DIGITS
        )
    ):
        spoken = words.grouped_digits(whole, profile)
    else:
        spoken = words.decimal(whole, frac, profile)
    if sign < 0:
        spoken = f"{profile.word('minus')} {spoken}"
    elif text.strip().startswith("+"):
        spoken = f"{profile.word('plus')} {spoken}"
    return spoken


_STREET_TYPES = (
    "St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Dr|Drive|Ln|Lane|Way|Ct|Court|Pl|Place|"
    "Pkwy|Parkway|Hwy|Highway|Ter|Terrace|Cir|Circle|Sq|Square"
)
#: A house number: 3 to 5 digits, then up to three capitalised words and a street type.
ADDRESS = re.compile(
    rf"{NOT_AFTER_WORD}\d{{3,5}}(?=\s+(?:[NSEW]\.?\s+)?(?:[A-Z][a-z]+\.?\s+){{1,3}}"
    rf"(?:{_STREET_TYPES})\b)"
)


def house_number(text: str, profile: Profile) -> str:
    """House numbers in pairs, as addresses are said: 123 "one twenty-three", 1600 "sixteen
    hundred", 1005 "ten oh five"; five digits one by one."""
    n = int(text)
    if len(text) in (3, 4) and not text.startswith("0"):
        head, tail = divmod(n, 100)
        said = words.cardinal(head, profile)
        if tail == 0:
            return f"{said} hundred"
        pair = words.cardinal(tail, profile)
        return f"{said} {pair}" if tail >= 10 else f"{said} oh {pair}"
    if len(text) == 5:
        return words.digits(text, profile)
    return words.cardinal(n, profile)


def value(text: str, profile: Profile) -> float | None:
    parsed = words.parse_number(text, profile)
    if parsed is None:
        return None
    sign, whole, frac = parsed
    return sign * float(f"{whole or 0}.{frac or 0}")


_FRACTIONS = {
    (1, 2): "one half", (1, 3): "one third", (2, 3): "two thirds", (1, 4): "one quarter",
    (3, 4): "three quarters", (1, 8): "one eighth", (3, 8): "three eighths",
    (5, 8): "five eighths", (7, 8): "seven eighths",
}  # fmt: skip
_UNICODE_FRACTIONS = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4)}


def _fraction(num: int, den: int, profile: Profile) -> str:
    if profile.lang == "en":
        if (num, den) in _FRACTIONS:
            return _FRACTIONS[(num, den)]
        if 2 <= den <= 10 and 0 < num < den:
            plural = "s" if num > 1 else ""
            return f"{words.cardinal(num, profile)} {words.ordinal(den, profile)}{plural}"
        return f"{words.cardinal(num, profile)} over {words.cardinal(den, profile)}"
    return f"{words.cardinal(num, profile)} / {words.cardinal(den, profile)}"


def rules(profile: Profile) -> list[Rule]:
    num = number_re(profile)
    to = profile.word("to")
    out: list[Rule] = []

    def ratio(m: re.Match[str], ctx: Context) -> str | None:
        a, b = int(m.group(1)), int(m.group(2))
        return f"{words.cardinal(a, profile)} {to} {words.cardinal(b, profile)}"

    def number_range(m: re.Match[str], ctx: Context) -> str | None:
        a, b = say_number(m.group(1), profile), say_number(m.group(2), profile)
        if a is None or b is None:
            return None
        return f"{a} {to} {b}"

    def fraction(m: re.Match[str], ctx: Context) -> str | None:
        num, den = int(m.group(1)), int(m.group(2))
        if (num, den) == (24, 7) and profile.lang == "en":
            return "twenty-four seven"
        if (num, den) == (50, 50) and profile.lang == "en":
            return "fifty fifty"
        if den == 0:
            return None
        return _fraction(num, den, profile)

    def unicode_fraction(m: re.Match[str], ctx: Context) -> str | None:
        whole = m.group(1)
        part = _fraction(*_UNICODE_FRACTIONS[m.group(2)], profile)
        if whole:
            return f"{words.cardinal(int(whole), profile)} {profile.word('and')} {part}"
        return part

    def plain(m: re.Match[str], ctx: Context) -> str | None:
        return say_number(m.group(0), profile)

    def between(m: re.Match[str], ctx: Context) -> str | None:
        return f" {to} "

    if "to" in profile.words:  # languages with a word for "to" read ranges and ratios
        out.append(
            Rule("numbers", re.compile(rf"{NOT_AFTER_WORD}(\d{{1,3}}):(\d{{1,3}})"
                                       rf"{NOT_BEFORE_WORD}"), ratio, "ratio")
        )  # fmt: skip
        out.append(
            Rule(
                "numbers",
                re.compile(rf"{NOT_AFTER_WORD}({SIGN}{num})\s?[-–—]\s?({num}){NOT_BEFORE_WORD}"),
                number_range,
                "range",
            )
        )
    if profile.lang == "en":
        out.append(
            Rule("numbers", re.compile(rf"{NOT_AFTER_WORD}(\d{{1,3}})/(\d{{1,3}})"
                                       rf"{NOT_BEFORE_WORD}"), fraction, "fraction")
        )  # fmt: skip
        out.append(
            Rule(
                "numbers", re.compile(r"(?<![0-9])(\d{0,6})([½⅓⅔¼¾])"), unicode_fraction, "unicode"
            )
        )
    if "to" in profile.words:  # "$5-$10", "9 AM - 5 PM": a dash between two readings
        dash = re.compile(r"(?<=\ue000) ?[-–] ?(?=\ue000)")
        out.append(Rule("numbers", dash, between, "between"))
    out.append(
        Rule(
            "numbers",
            re.compile(rf"(?<![0-9A-Za-z_.,]){SIGN}(?:{num}|\.\d+)(?![0-9]|[.,]\d)"),
            plain,
            "number",
        )
    )
    return out


def address_rules(profile: Profile) -> list[Rule]:
    """House numbers before a street name (English); runs before "Ave." becomes "Avenue"."""
    if profile.lang != "en":
        return []

    def render(m: re.Match[str], ctx: Context) -> str | None:
        return house_number(m.group(0), profile)

    return [Rule("numbers", ADDRESS, render, "house-number")]


def ordinal_rules(profile: Profile) -> list[Rule]:
    """English ordinal suffixes: 1st, 22nd, 103rd (case-insensitive)."""
    if profile.lang != "en":
        return []

    def render(m: re.Match[str], ctx: Context) -> str | None:
        return words.ordinal(int(m.group(1)), profile)

    pattern = re.compile(rf"{NOT_AFTER_WORD}(\d{{1,12}})(?i:st|nd|rd|th){NOT_BEFORE_WORD}")
    return [Rule("ordinals", pattern, render, "ordinal")]


def percent_rules(profile: Profile) -> list[Rule]:
    """12% and 10-20 %: "twelve percent", "ten to twenty percent" (zh: 百分之十二)."""
    num = number_re(profile)

    def render(m: re.Match[str], ctx: Context) -> str | None:
        first = say_number(m.group(1), profile)
        second = say_number(m.group(2), profile) if m.group(2) else None
        if first is None:
            return None
        if profile.lang == "zh":
            spoken = f"百分之{first}" + (f"到百分之{second}" if second else "")
            return spoken
        joined = f"{first} {profile.word('to')} {second}" if second else first
        if profile.lang in ("ja", "ko"):
            return f"{joined}{profile.word('percent')}"
        return f"{joined} {profile.word('percent')}"

    pattern = re.compile(rf"(?<![0-9A-Za-z_.,])({SIGN}{num})(?:\s?[-–]\s?({num}))?\s?(?:%|％)")
    return [Rule("percent", pattern, render, "percent")]
