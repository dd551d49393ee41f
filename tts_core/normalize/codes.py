"""Confirmation codes, mixed letter-digit tokens and numbered references, spelled out.

A caller must be able to write down "XJ7KQ2" as it is heard, so a token that
mixes letters and digits is spelled: "X J seven K Q two" (letters as capitals,
which voices speak as letter names; each digit on its own, because "seventy-two"
cannot be told from "seven two"). A hyphen becomes a pause. A long pronounceable
word part stays a word ("Windows11" is "Windows one one"), and "COVID-19" style
name-number pairs read the number as a number.

After a word that announces a code ("confirmation", "PIN", "order", "ticket" ...)
an all-capital token is spelled even without digits ("QZKPRW") and a digit
string is read digit by digit in groups ("PIN 4821" is "four eight two one",
not "four thousand ..."). "#12" is "number twelve"; "#48213" "number four eight
two one three".
"""

from __future__ import annotations

import re

from . import words
from .languages import Profile
from .rules import NOT_BEFORE_WORD, Context, Rule

_CODE_CUES = frozenset(
    "code codes confirmation reference ref booking pnr locator voucher coupon promo pin "
    "passcode otp id order ticket tracking account acct invoice claim policy membership "
    "serial routing zip postcode sku reservation".split()
)
_VOWELS = set("aeiouyAEIOUY")
_START = r"(?<![0-9A-Za-z_@./:#'’-])"


def spell(token: str, profile: Profile) -> str:
    """Spell a code: letters as capitals, digits as words, hyphens as pauses."""
    groups: list[str] = []
    for part in re.split(r"[-_/.]+", token):
        if not part:
            continue
        spoken: list[str] = []
        for run in re.findall(r"[0-9]+|[^\W\d_]+", part):
            if run[0].isdigit():
                spoken.append(words.digits(run, profile))
            elif _word_like(run):
                spoken.append(run)
            else:
                spoken.append(" ".join(run.upper()))
        groups.append(" ".join(spoken))
    return ", ".join(g for g in groups if g)


def _word_like(run: str) -> bool:
    """A run of letters a voice can say as a word: long, with vowels, not shouted."""
    return len(run) >= 4 and bool(_VOWELS & set(run)) and not run.isupper()


def rules(profile: Profile) -> list[Rule]:
    def mixed(m: re.Match[str], ctx: Context) -> str | None:
        token = m.group(0)
        name_number = re.fullmatch(r"([A-Za-z]{3,}|[A-Z])-(\d{1,3})", token)
        if name_number and (len(name_number.group(1)) == 1 or _VOWELS & set(name_number.group(1))):
            # COVID-19, I-95, F-150: a name and a model number, not a code
            return f"{name_number.group(1)} {words.cardinal(int(name_number.group(2)), profile)}"
        short = re.fullmatch(r"(\d{1,3})([A-Za-z])|([A-Za-z])(\d{1,3})", token)
        if short:  # exit 12B, apartment 4C, vitamin B12: a number with a letter
            number, letter = short.group(1) or short.group(4), short.group(2) or short.group(3)
            said = words.cardinal(int(number), profile)
            return f"{said} {letter.upper()}" if short.group(1) else f"{letter.upper()} {said}"
        return spell(token, profile)

    def cued(m: re.Match[str], ctx: Context) -> str | None:
        if not set(ctx.prev_words(3)) & _CODE_CUES:
            return None
        token = m.group(0)
        return words.grouped_digits(token, profile) if token.isdigit() else spell(token, profile)

    def hashed(m: re.Match[str], ctx: Context) -> str | None:
        ref = m.group(1)
        if ref.isdigit():
            said = words.cardinal(int(ref), profile) if len(ref) <= 3 else None
            said = said or words.grouped_digits(ref, profile)
        else:
            said = spell(ref, profile)
        return f"{profile.word('number')} {said}"

    def zip_code(m: re.Match[str], ctx: Context) -> str | None:
        plus4 = f", {words.digits(m.group(3), profile)}" if m.group(3) else ""
        return f"{m.group(1)} {words.digits(m.group(2), profile)}{plus4}"

    mixed_re = re.compile(
        rf"{_START}(?=[A-Za-z0-9-]*[A-Za-z])(?=[A-Za-z0-9-]*[0-9])"
        rf"[A-Za-z0-9]++(?:-[A-Za-z0-9]++)*+{NOT_BEFORE_WORD}(?![@'’]|-\w)"
    )
    return [
        Rule("codes", re.compile(rf"#\s?((?=[A-Za-z0-9-]*[0-9])[A-Za-z0-9]++(?:-[A-Za-z0-9]++)*+)"
                                 rf"{NOT_BEFORE_WORD}"),
             hashed, "hash-number"),
        Rule("codes", mixed_re, mixed, "mixed"),
        # "DC 20500", "CA 94107-1234": a state and a ZIP code, said digit by digit
        Rule("codes", re.compile(rf"(?<![A-Za-z])([A-Z]{{2}}),?\s(\d{{5}})(?:-(\d{{4}}))?"
                                 rf"{NOT_BEFORE_WORD}"), zip_code, "zip"),
        Rule("codes", re.compile(rf"{_START}(?:[A-Z]{{3,10}}|[0-9]{{3,16}}){NOT_BEFORE_WORD}"
                                 r"(?![.,]\d)"), cued, "cued"),
    ]  # fmt: skip
