"""Cardinals, decimals, signs, ranges, ratios, fractions, versions and percentages.

Readings decided here:
- "1,234" is one thousand two hundred thirty-four, never "one, two hundred ...":
  separators are parsed by the language's convention (`words.parse_number`);
- a leading zero ("007"), or ten digits and more without separators, is an
  identifier, read digit by digit in groups, unless it is a round count
  ("8000000000" is eight billion);
- "1.2.3" is a version ("one point two point three"), "192.168.1.1" an address
  read digit by digit ("one nine two dot ...");
- in a language we have no rules for (numbers only), a number is read only where
  it stands alone: "15:30", "12/03", "€42,50" or "A4" pass through for the voice;
- "-5" after a space is "minus five", but "5-7" is a range ("five to seven") and
  "3:2" (one-digit second part, so not a time) a ratio ("three to two");
- "3/4" is three quarters, "24/7" twenty-four seven, other small slashes "over".
"""

from __future__ import annotations

import functools
import re

from . import words
from .languages import Profile
from .rules import NOT_AFTER_WORD, NOT_BEFORE_WORD, Context, Rule

# A number as English writes it, and as decimal-comma languages write it. In the
# latter a point followed by anything but exactly three digits is a decimal point
# ("$42.50" in Spanish), tried first so "42" is never cut off from its ".50".
# Atomic: once a number is read it is never re-read shorter, so a pattern that fails
# after it ("1 000 1 000" before a currency that is not there) fails at once.
NUM_POINT = r"(?>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)"
NUM_COMMA = r"(?>\d+\.(?!\d{3}(?![0-9]))\d+|(?:\d{1,3}(?:[. \u00a0\u202f'’]\d{3})+|\d+)(?:,\d+)?)"
# A sign belongs to the number after a space, a bracket, a quote or CJK punctuation.
SIGN = r"(?:(?<![^\s(\[\"'“，、。：；（])[-−+])?"


def number_re(profile: Profile) -> str:
    return NUM_COMMA if profile.decimal_comma else NUM_POINT


@functools.lru_cache(maxsize=4096)
def say_number(text: str, profile: Profile) -> str | None:
    """A written number in words by the rules above, or None if it is not one.

    Cached: a call repeats its numbers, and a long run of them must cost a lookup each.
    """
    parsed = words.parse_number(text, profile)
    if parsed is None:
        return None
    sign, whole, frac = parsed
    if (frac and "point" not in profile.words) or (sign < 0 and "minus" not in profile.words):
        return None  # no word for it in this language: the voice reads it as written
    plain = text.strip().lstrip("+-−–")
    if (
        not frac
        and whole
        and (
            (len(whole) > 1 and whole.startswith("0") and plain == whole)
            or (len(whole) >= 10 and plain == whole and not whole.endswith("000"))
            or len(whole) > words.MAX_CARDINAL_DIGITS
        )
    ):
        spoken = words.grouped_digits(whole, profile)
    else:
        spoken = words.decimal(whole, frac, profile)
    gap = "" if profile.lang in ("zh", "ja") else " "
    if sign < 0:
        spoken = f"{profile.word('minus')}{gap}{spoken}"
    elif text.strip().startswith("+"):
        spoken = f"{profile.word('plus')}{gap}{spoken}"
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


_CJK_TO = {"ja": "から", "ko": "에서 "}  # a range: 十から二十, 십에서 이십
_CJK_FRACTION = {"zh": "{den}分之{num}", "ja": "{den}分の{num}", "ko": "{den}분의 {num}"}


def _fraction(num: int, den: int, profile: Profile) -> str:
    if profile.lang in _CJK_FRACTION:  # the denominator first: 四分之三
        said = {"num": words.cardinal(num, profile), "den": words.cardinal(den, profile)}
        return _CJK_FRACTION[profile.lang].format(**said)
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
    if profile.lang == "en" or profile.lang in _CJK_FRACTION:
        out.append(
            Rule("numbers", re.compile(rf"{NOT_AFTER_WORD}(?<![/.])(\d{{1,3}})/(\d{{1,3}})"
                                       rf"{NOT_BEFORE_WORD}(?!/)"), fraction, "fraction")
        )  # fmt: skip
    if profile.lang == "en":
        out.append(
            Rule(
                "numbers", re.compile(r"(?<![0-9])(\d{0,6})([½⅓⅔¼¾])"), unicode_fraction, "unicode"
            )
        )
    if "to" in profile.words:  # "$5-$10", "9 AM - 5 PM": a dash between two readings
        dash = re.compile(r"(?<=\ue000) ?[-–] ?(?=\ue000)")
        out.append(Rule("numbers", dash, between, "between"))
    if profile.numbers_only:
        out.append(Rule("numbers", _standalone(profile), plain, "number"))
        return out
    # CJK text puts a sign right after a character: 气温-5度 is minus five.
    sign = r"(?:(?<![0-9A-Za-z])[-−+])?" if profile.lang in _CJK_FRACTION else SIGN
    # Glued to a currency symbol, a number is an amount: the currency rules read it, or
    # (currency switched off, a form they decline) the voice does, never "$forty-two".
    money = "$€£¥₹₩₽₺₪₱฿¢"
    out.append(
        Rule(
            "numbers",
            re.compile(
                rf"(?<![0-9A-Za-z_.,{money}]){sign}(?:{num}|\.\d+)(?![0-9]|[.,]\d|[{money}])"
            ),
            plain,
            "number",
        )
    )
    return out


def _standalone(profile: Profile) -> re.Pattern[str]:
    """A number with nothing but spaces, brackets, quotes or closing punctuation around it.

    For languages we know only the number words of: "15:30", "12/03/2026", "€42,50",
    "3-4", "A4" or "10 000" (where spaces group digits only in some of them) are
    written by conventions we have no rules for, so they reach the voice as written
    rather than as number words glued to symbols.
    """
    sign = r"(?:(?<![^\s(\[\"'“„«])[-−])?" if "minus" in profile.words else ""
    return re.compile(
        rf"(?<![^\s(\[\"'“„«])(?<![0-9] ){sign}(?:{number_re(profile)})"
        r"(?![0-9]|[.,:/][0-9\ue000]| [0-9])(?=[\s.,;:!?)\]\"'”»]|$)"
        r"(?!\s?(?:[€$£¥₹₩₽%°‰¢]|zł|Kč))"
    )


_VERSION_CUES = frozenset("version versions release build firmware update upgrade".split())


def version_rules(profile: Profile) -> list[Rule]:
    """ "1.2.3" and "v2.0.1" are versions, "192.168.1.1" an address (English).

    Runs before the code rules, so "v2.0.1" is not spelled as a code plus a
    stray ".0.1", and after the date rules, so "12.03.2026" is still a date.
    """
    if profile.lang != "en":
        return []

    def render(m: re.Match[str], ctx: Context) -> str | None:
        parts = m.group(2).split(".")
        versioned = m.group(1) or ctx.prev_word() in _VERSION_CUES
        if not versioned and len(parts) == 4 and all(int(p) <= 255 for p in parts):
            return " dot ".join(words.digits(p, profile) for p in parts)
        said = " point ".join(words.cardinal(int(p), profile) for p in parts)
        return f"version {said}" if m.group(1) else said

    pattern = re.compile(
        r"(?<![0-9A-Za-z_.,])([vV](?=\d))?(\d{1,4}(?:\.\d{1,4}){2,3})(?![0-9A-Za-z]|\.\d)"
    )
    return [Rule("numbers", pattern, render, "version")]


def address_rules(profile: Profile) -> list[Rule]:
    """House numbers before a street name (English); runs before "Ave." becomes "Avenue"."""
    if profile.lang != "en":
        return []

    def render(m: re.Match[str], ctx: Context) -> str | None:
        return house_number(m.group(0), profile)

    return [Rule("numbers", ADDRESS, render, "house-number")]


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
        if profile.lang in ("ja", "ko"):
            joined = f"{first}{_CJK_TO[profile.lang]}{second}" if second else first
            return f"{joined}{profile.word('percent')}"
        joined = f"{first} {profile.word('to')} {second}" if second else first
        return f"{joined} {profile.word('percent')}"

    pattern = re.compile(rf"(?<![0-9A-Za-z_.,])({SIGN}{num})(?:\s?[-–]\s?({num}))?\s?(?:%|％)")
    return [Rule("percent", pattern, render, "percent")]
