"""The machinery every category shares: a rule, its context, and the pass runner.

A rule is a compiled pattern plus a function that renders one match as words,
or declines (returns None) when the context says another reading applies. The
runner applies the rules in category order over the text's *open* segments:
text a rule has already rendered is closed, so "acme dot com" is never read
again by the abbreviation or number rules, and each rule sees only what earlier
rules left. Every pattern is scanned once per pass with `finditer`, the context
a rule may look at is bounded (`CONTEXT` characters each side), and the number
of passes is fixed, so the work is linear in the length of the sentence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .languages import Profile

log = logging.getLogger(__name__)

#: Characters of context on each side a rule may consult.
CONTEXT = 48

# Letters and digits of the scripts that separate words with spaces. Python's
# \w and \b also match CJK characters, which would keep "我有3个" from ever
# matching a number, so the rules use these classes for word edges instead.
WORD = r"0-9A-Za-z_\u00C0-\u024F\u0370-\u03FF\u0400-\u04FF"
NOT_AFTER_WORD = rf"(?<![{WORD}])"
NOT_BEFORE_WORD = rf"(?![{WORD}])"


@dataclass
class Context:
    """What a rule may know besides its match: the language and nearby text."""

    profile: Profile
    before: str = ""  # up to CONTEXT characters before the match (already normalized)
    after: str = ""  # up to CONTEXT characters after the match (not yet normalized)

    def prev_word(self) -> str:
        """The word just before the match, lower-cased, without punctuation."""
        words = re.findall(rf"[{WORD}'’.]+", self.before)
        return words[-1].strip(".").lower() if words else ""

    def prev_words(self, n: int) -> list[str]:
        words = re.findall(rf"[{WORD}'’]+", self.before)
        return [w.lower() for w in words[-n:]]

    def at_end(self) -> bool:
        """Nothing but closing quotes, brackets or spaces follow (the sentence ends here)."""
        return not self.after.strip(" \t\n\"'”’)]}")


Render = Callable[[re.Match[str], Context], "str | None"]


@dataclass(frozen=True)
class Rule:
    category: str
    pattern: re.Pattern[str]
    render: Render
    name: str = ""


class Counter:
    """Work done by one `run` (tests bound it to prove the normalizer is linear)."""

    def __init__(self) -> None:
        self.matches = 0
        self.scanned = 0


def run(text: str, rules: Iterable[Rule], profile: Profile, counter: Counter | None = None) -> str:
    """Apply `rules` in order over the open segments of `text`; return the spoken form."""
    segments: list[tuple[str, bool]] = [(text, False)]  # (text, closed)
    for rule in rules:
        segments = _apply(rule, segments, profile, counter)
    return "".join(s for s, _ in segments)


def _apply(
    rule: Rule,
    segments: list[tuple[str, bool]],
    profile: Profile,
    counter: Counter | None,
) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    tail = ""  # the last CONTEXT characters emitted so far
    for index, (seg, closed) in enumerate(segments):
        if closed or not seg:
            out.append((seg, closed))
            tail = (tail + seg)[-CONTEXT:]
            continue
        last = 0
        following = ""
        if counter is not None:
            counter.scanned += len(seg)
        for m in rule.pattern.finditer(seg):
            if counter is not None:
                counter.matches += 1
            start, end = m.span()
            before = seg[max(0, start - CONTEXT) : start]
            if start < CONTEXT:
                before = (tail + seg[:start])[-CONTEXT:]
            after = seg[end : end + CONTEXT]
            if len(after) < CONTEXT:
                if not following:
                    following = "".join(s for s, _ in segments[index + 1 : index + 4])[:CONTEXT]
                after = (after + following)[:CONTEXT]
            try:
                spoken = rule.render(m, Context(profile, before, after))
            except Exception:  # a rule bug costs its reading, never the sentence
                log.exception("normalize rule %s failed on %r", rule.name, m.group(0))
                spoken = None
            if spoken is None:
                continue
            if start > last:
                out.append((seg[last:start], False))
            out.append((spoken, True))
            last = end
        if last < len(seg):
            out.append((seg[last:], False))
        tail = (tail + seg)[-CONTEXT:]
    return out


def spaced(words: str, m: re.Match[str]) -> str:
    """Pad a rendering with spaces where the match touched a letter or digit."""
    text = m.string
    start, end = m.span()
    left = " " if start > 0 and text[start - 1].isalnum() else ""
    right = " " if end < len(text) and text[end].isalnum() else ""
    return f"{left}{words}{right}"
