"""Speakable text (SPEC §8): what the caller should hear, in words, before synthesis.

`normalize(text, language, locale, categories)` rewrites numbers, money,
dates, times, phone numbers, codes, addresses, emails, URLs, units,
abbreviations and symbols into words by language and locale. The speech core
calls it once per sentence, before the cache key and the engine; the gateway
keeps the client's own text for its events (`sentence`, `cleared.heard`, marks).

Categories switch one by one (`CATEGORIES`, `parse_setting` for the session
setting `normalize`: "on", "off" or a list); `capabilities()` says which
categories each language supports, for `/v1/voices`. Languages without rules
pass through unchanged.

The work is linear in the sentence: a fixed list of precompiled rules, each
scanning the text once (`rules.run`), no pattern that can backtrack
catastrophically, and each rule bounded to `rules.CONTEXT` characters of context.
A rule that fails costs its own rewrite, never the sentence.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re

from . import abbreviations, codes, dates, gates, money, numbers, ordinals, phone, times, units, web
from .categories import (
    ALL,
    CATEGORIES,
    NONE,
    NormalizeSettingError,
    parse_setting,
    setting_text,
)
from .languages import Profile, capabilities, resolve
from .rules import Counter, Rule, run, run_pieces

__all__ = [
    "ALL",
    "CATEGORIES",
    "NONE",
    "NormalizeSettingError",
    "Profile",
    "capabilities",
    "normalize",
    "normalize_pieces",
    "parse_setting",
    "resolve",
    "rules_for",
    "setting_text",
]

log = logging.getLogger(__name__)

_SPACES = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:!?)])")


@functools.lru_cache(maxsize=128)
def rules_for(profile: Profile) -> tuple[Rule, ...]:
    """Every rule for a language, in application order (built and compiled once, gated)."""
    return tuple(_gated(r) for r in ungated_rules(profile))


def ungated_rules(profile: Profile) -> list[Rule]:
    """The rules as each module writes them, before `gates.gate` (tests compare the two)."""
    ordered: list[Rule] = [
        *web.email_rules(profile),
        *web.url_rules(profile),
        *phone.rules(profile),
        *money.rules(profile),
        *times.rules(profile),
        *dates.rules(profile),
        *numbers.percent_rules(profile),
        *units.rules(profile),
        *ordinals.rules(profile),
        *numbers.version_rules(profile),
        *codes.rules(profile),
        *numbers.address_rules(profile),
        *abbreviations.rules(profile),
        *numbers.rules(profile),
        *abbreviations.symbol_rules(profile),
    ]
    return [r for r in ordered if r.category in profile.categories]


def _gated(rule: Rule) -> Rule:
    """The rule behind its first-character gate (same matches, a cheaper scan)."""
    pattern, first = gates.gate(rule.pattern)
    return dataclasses.replace(rule, pattern=pattern, gate=first)


@functools.lru_cache(maxsize=256)
def _categories(setting: str | bool | None) -> frozenset[str]:
    return parse_setting(setting)


def enabled(setting: object) -> frozenset[str]:
    """`parse_setting`, cached for the hashable forms a request carries."""
    if isinstance(setting, (str, bool)) or setting is None:
        return _categories(setting)
    return parse_setting(setting)


def normalize(
    text: str,
    language: str | None = None,
    locale: str | None = None,
    categories: object = "on",
    *,
    counter: Counter | None = None,
) -> str:
    """`text` as it should be spoken, or `text` unchanged where no rule applies.

    `language`: ISO code, locale, espeak tag or engine name ("english"); None
    or "auto" uses `locale`, then the script of the text. `locale` (e.g.
    "en-GB") sets the region that reads numeric dates. `categories`: anything
    `parse_setting` accepts. Raises `NormalizeSettingError` for unknown
    categories; never raises for any text.
    """
    wanted = enabled(categories)
    if not wanted or not text:
        return text
    try:
        profile = resolve(language, locale, text)
        active = tuple(r for r in rules_for(profile) if r.category in wanted)
        if not active:
            return text
        spoken = run(text, active, profile, counter)
    except Exception:  # normalization must never cost the caller a sentence
        log.exception("text normalization failed; speaking the text as sent")
        return text
    if spoken == text:
        return text
    spoken = _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", spoken))
    if not text[:1].isspace():  # a symbol's word at the very start ("# of items")
        spoken = spoken.lstrip()
    if not text[-1:].isspace():
        spoken = spoken.rstrip()
    return spoken


def normalize_pieces(
    text: str,
    language: str | None = None,
    locale: str | None = None,
    categories: object = "on",
) -> list[tuple[str, str]]:
    """`normalize`, as (written, spoken) pieces: which span of `text` became which words.

    The written sides joined give `text` back; the spoken sides joined give what
    `normalize` returns before its whitespace tidying. Used to map playout time
    back onto the client's words (`alignment.heard_words`). Same arguments and
    errors as `normalize`; a rule failure yields the text as one unchanged piece.
    """
    wanted = enabled(categories)
    if not wanted or not text:
        return [(text, text)] if text else []
    try:
        profile = resolve(language, locale, text)
        active = tuple(r for r in rules_for(profile) if r.category in wanted)
        if not active:
            return [(text, text)]
        return run_pieces(text, active, profile)
    except Exception:  # never cost the caller a sentence (or a `cleared` event)
        log.exception("text normalization failed; aligning the text as sent")
        return [(text, text)]
