"""Linear time, bounded work: no sentence within the limits holds the event loop.

The gateway normalizes on its event loop, whose rule is that no client input
blocks it for more than 10 ms; a sentence is at most `max_sentence_chars`
characters (400 by default, 2000 at most). Each category gets inputs built to
hurt a regex engine (long runs of what almost matches: digits with separators,
dots, hyphens, signs, @, slashes, ordinal marks), at both lengths, in every
language that has rules of its own and in languages that only have number words.

Two checks, neither a ratio of timings: the best of five runs stays under 10 ms
of the normalizing thread's own CPU time (about 1 ms at 400 characters and 5 ms
at 2000 at worst, on one core of this 2-core host), and the work counted by the
rule runner (characters scanned, matches rendered) is bounded by a constant times
the length, which is what makes the time linear. CPU time rather than the wall
clock, because the bound is on the normalizer's own work: on a test host shared
with other test runs, the wall clock also counts the time slices other processes
take, which the event loop of a gateway with its own core does not pay.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tts_core.normalize import capabilities, normalize, resolve, rules_for
from tts_core.normalize.languages import SUPPORTED
from tts_core.normalize.rules import Counter

LENGTHS = (400, 2000)  # the default sentence limit, and the most a deployment may set


def repeat(unit: str) -> Callable[[int], str]:
    return lambda n: (unit * (n // len(unit) + 1))[:n]


def lead(head: str, fill: str) -> Callable[[int], str]:
    return lambda n: (head + fill * n)[:n]


PATHOLOGICAL: dict[str, list[Callable[[int], str]]] = {
    "numbers": [repeat("1"), repeat("1,"), repeat("1.2."), repeat("-1 "), repeat("1-2-"),
                repeat("1/2/"), repeat("1 000 "), repeat("v1.2"), repeat("0."), repeat("½1")],
    "currency": [repeat("$1 "), lead("$", "1"), repeat("$1,000,"), repeat("€1,5 "),
                 repeat("1 USD "), repeat("R$ 1,"), repeat("1 ₽ 1"), repeat("5¢"), repeat("a $5 ")],
    "dates": [repeat("12/12/"), repeat("1/"), repeat("Dec. 3, "), repeat("2026-"),
              repeat("in 1999 "), repeat("13/13/"), repeat("3. Mai "), repeat("3.4."),
              repeat("Feb 30 ")],
    "times": [repeat("12:"), repeat("1:11:"), repeat("3 pm "), repeat("12:30 p."),
              repeat("25:"), repeat("9h"), repeat("1 Uhr "), repeat("3시")],
    "phone": [repeat("+1 "), repeat("555-"), repeat("(555) "), repeat("+1-2-3-"),
              lead("+", "12 "), repeat("010-"), repeat("0 12 "), repeat("1 (800) AB "),
              repeat("13812345678")],
    "codes": [repeat("A1"), repeat("AB-12-"), repeat("#1"), lead("code ", "AB1-")],
    "ordinals": [repeat("1st"), repeat("1,000th,"), repeat("1er "), repeat("der 3. "),
                 repeat("1º")],
    "emails": [repeat("a@"), lambda n: "a." * ((n - 2) // 2) + "@b", repeat("a@b."),
               lambda n: "a" * (n - 6) + "@b.com"],
    "urls": [repeat("a."), repeat("www."), repeat("http://"), repeat("a.com/"),
             lambda n: "a-" * ((n - 4) // 2) + ".com"],
    "units": [repeat("5 kg "), repeat("5x"), repeat("5°"), repeat("5 x 5 x "), repeat("5'1"),
              repeat("a 6 ft ")],
    "abbreviations": [repeat("Dr. "), repeat("St."), repeat("e.g. "), repeat("Mr. A "),
                      repeat("Mr. and ")],
    "symbols": [repeat("&"), repeat("a/b/"), repeat("#a"), repeat("+ = "), repeat("c/o/")],
    "mixed": [repeat("$1.2 million on 12/03/2026 at 3:30 pm, call +1 (555) 123-4567. ")],
}  # fmt: skip
#: Every language with rules of its own, and a few that have number words only.
LANGUAGES = (*SUPPORTED, "nl", "pl", "tr", "vi")

CASES = [
    pytest.param(lang, make(n), id=f"{lang}-{name}-{i}-{n}")
    for lang in LANGUAGES
    for name, makers in PATHOLOGICAL.items()
    for i, make in enumerate(makers)
    for n in LENGTHS
]


def test_the_inputs_have_the_lengths_they_claim() -> None:
    for makers in PATHOLOGICAL.values():
        for make in makers:
            for n in LENGTHS:
                assert n - 2 <= len(make(n)) <= n


@pytest.mark.parametrize(("language", "text"), CASES)
def test_pathological_sentence_stays_under_10_ms(language: str, text: str) -> None:
    normalize(text, language)  # warm: rules compiled, number words cached as in a live call
    best = min(_timed(text, language) for _ in range(5))
    assert best < 0.010, f"{best * 1000:.2f} ms"


@pytest.mark.parametrize(("language", "text"), CASES)
def test_work_is_linear_in_the_length(language: str, text: str) -> None:
    _assert_linear(language, text)


def test_every_numbers_only_language_is_linear_too() -> None:
    """They share one rule set; only the words differ, so one long input each will do."""
    for lang in capabilities()["numbers_only"]["languages"]:
        for makers in PATHOLOGICAL.values():
            _assert_linear(lang, makers[0](2000))


def _assert_linear(language: str, text: str) -> None:
    counter = Counter()
    normalize(text, language, counter=counter)
    rules = len(rules_for(resolve(language, None, text)))
    assert counter.scanned <= rules * len(text) * 2
    assert counter.matches <= len(text)


def _timed(text: str, language: str) -> float:
    t0 = time.thread_time()
    normalize(text, language)
    return time.thread_time() - t0
