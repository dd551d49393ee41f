"""Number words in every language: num2words, plus the few things it lacks.

num2words does the hard part (agreement, compounding, scales) for the engines'
languages; this module picks its mode and cleans its output for speech:

- no commas inside a number ("one thousand, two hundred"): a TTS voice pauses at
  a comma and a listener hears two numbers;
- American English drops the "and" ("one hundred five"), British keeps it;
- decimals are built here (integer words + "point" + digit words), because
  num2words goes through floats and misreads some (`3.14` in Italian is "tre");
- Chinese, which num2words lacks, has a small converter of its own;
- results are cached: a phone call repeats the same numbers.
"""

from __future__ import annotations

import functools

from .languages import Profile

#: Longest integer read as a number; longer digit strings are read digit by digit.
MAX_CARDINAL_DIGITS = 15

_ZH_DIGITS = "零一二三四五六七八九"
_ZH_UNITS = ("", "十", "百", "千")
_ZH_GROUPS = ("", "万", "亿", "兆")


def _zh_cardinal(n: int) -> str:
    """Chinese reading of a non-negative integer: 1234 -> 一千二百三十四, 10 -> 十."""
    if n == 0:
        return _ZH_DIGITS[0]
    groups: list[int] = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    out = ""
    need_zero = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or group < 1000):
            out += _ZH_DIGITS[0]
        part = ""
        zero = False
        for pos in range(3, -1, -1):
            digit = group // (10**pos) % 10
            if digit == 0:
                zero = bool(part)
                continue
            if zero:
                part += _ZH_DIGITS[0]
                zero = False
            part += _ZH_DIGITS[digit] + _ZH_UNITS[pos]
        out += part + _ZH_GROUPS[index]
        need_zero = False
    if out.startswith("一十"):
        out = out[1:]  # 10-19 are 十, 十一 ... not 一十一
    return out


@functools.lru_cache(maxsize=4096)
def _n2w(number: int, lang: str, to: str) -> str:
    from num2words import num2words

    return str(num2words(number, lang=lang, to=to))


def _clean(words: str, profile: Profile) -> str:
    words = words.replace(",", "")
    if profile.lang == "en" and not profile.british:
        words = words.replace(" and ", " ")
    return words


@functools.lru_cache(maxsize=4096)
def cardinal(n: int, profile: Profile) -> str:
    """`n` in words; digit by digit past `MAX_CARDINAL_DIGITS` or without num2words."""
    if n < 0:
        return f"{profile.word('minus')} {cardinal(-n, profile)}"
    if len(str(n)) > MAX_CARDINAL_DIGITS:
        return digits(str(n), profile)
    if profile.lang == "zh":
        return _zh_cardinal(n)
    if profile.n2w is None:
        return str(n)
    try:
        return _clean(_n2w(n, profile.n2w, "cardinal"), profile)
    except Exception:  # num2words' converters differ in what they support; never fatal
        return str(n)


def ordinal(n: int, profile: Profile) -> str:
    """`21` -> "twenty-first" (English; other languages through num2words)."""
    if profile.n2w is None or n < 0 or len(str(n)) > MAX_CARDINAL_DIGITS:
        return cardinal(n, profile)
    try:
        return _clean(_n2w(n, profile.n2w, "ordinal"), profile)
    except Exception:  # num2words' converters differ in what they support; never fatal
        return cardinal(n, profile)


def year(n: int, profile: Profile) -> str:
    """English years in pairs ("nineteen ninety-nine", "twenty twenty-six"); others cardinal.

    Japanese num2words answers years in the imperial era, which is not what was
    written, so only English uses the year mode.
    """
    if profile.lang == "en" and 1000 <= n <= 2999:
        words = _clean(_n2w(n, "en", "year"), profile)
        return words.replace(" and ", " ")  # "two thousand five", in either region
    if profile.lang == "zh":
        return digits(str(n), profile, sep="")
    return cardinal(n, profile)


@functools.lru_cache(maxsize=64)
def _digit_words(lang: str, n2w: str | None, region: str) -> tuple[str, ...]:
    if lang == "zh":
        return tuple(_ZH_DIGITS)
    if lang == "ko":
        return ("공", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
    if n2w is None:
        return tuple("0123456789")
    from num2words import num2words

    return tuple(str(num2words(d, lang=n2w)) for d in range(10))


def digit_word(d: str, profile: Profile) -> str:
    return _digit_words(profile.lang, profile.n2w, profile.region)[int(d)]


def digits(s: str, profile: Profile, sep: str | None = None) -> str:
    """Each digit of `s` as a word: "0199" -> "zero one nine nine" (non-digits dropped)."""
    if sep is None:
        sep = "" if profile.lang in ("zh", "ja", "ko") else " "
    table = _digit_words(profile.lang, profile.n2w, profile.region)
    return sep.join(table[int(ch)] for ch in s if "0" <= ch <= "9")


def grouped_digits(s: str, profile: Profile) -> str:
    """A long digit string read in groups of three or four, with a pause between groups.

    10 digits group as 3-3-4 (a North American phone number's rhythm), 11 as 3-4-4,
    other lengths in threes with a last group of four rather than a lone digit.
    """
    only = "".join(ch for ch in s if "0" <= ch <= "9")
    if len(only) <= 4:
        return digits(only, profile)
    if len(only) == 10:
        parts = [only[:3], only[3:6], only[6:]]
    elif len(only) == 11:  # 3-4-4: a mobile number's rhythm in China and Korea
        parts = [only[:3], only[3:7], only[7:]]
    else:
        parts = [only[i : i + 3] for i in range(0, len(only), 3)]
        if len(parts[-1]) == 1:
            parts[-2:] = [parts[-2] + parts[-1]]
    sep = "、" if profile.lang in ("zh", "ja") else ", "
    return sep.join(digits(p, profile) for p in parts)


def decimal(int_part: str, frac_part: str, profile: Profile) -> str:
    """ "3", "14" -> "three point one four"; an empty integer part is read as zero."""
    whole = cardinal(int(int_part or "0"), profile)
    if not frac_part:
        return whole
    point = profile.word("point")
    if not int_part and profile.lang == "en":
        return f"{point} {digits(frac_part, profile)}"  # ".5" is "point five", as written
    if profile.lang in ("zh", "ja"):
        return f"{whole}{point}{digits(frac_part, profile, sep='')}"
    return f"{whole} {point} {digits(frac_part, profile)}"


def parse_number(text: str, profile: Profile) -> tuple[int, str, str] | None:
    """ "-1,234.50" -> (sign, "1234", "50") under the language's separators, or None.

    English groups with commas and marks decimals with a point; decimal-comma
    languages group with points, spaces or apostrophes. A separator that is not
    followed by exactly three digits is the decimal mark ("3.5" reads as a decimal
    even in German).
    """
    sign = 1
    body = text.strip()
    if body[:1] in "-−–":
        sign, body = -1, body[1:]
    elif body[:1] == "+":
        body = body[1:]
    body = body.replace("\u202f", " ").replace("\u00a0", " ")
    mark = "," if profile.decimal_comma else "."
    seps = (".", " ", "'", "’") if profile.decimal_comma else (",",)
    whole, _, frac = body.partition(mark)
    for sep in seps:
        if sep not in whole:
            continue
        chunks = whole.split(sep)
        head_ok = chunks[0].isdigit() and len(chunks[0]) <= 3
        if head_ok and all(len(c) == 3 and c.isdigit() for c in chunks[1:]):
            whole = "".join(chunks)
        elif sep == "." and not frac and len(chunks) == 2:
            whole, frac = chunks  # "3.5" in a decimal-comma language: still a decimal
        else:
            return None
    if not (whole or frac) or (whole and not whole.isdigit()) or (frac and not frac.isdigit()):
        return None
    return sign, whole, frac
