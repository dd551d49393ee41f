"""The machinery every category shares: a rule, its context, and the pass runner.

A rule is a compiled pattern plus a function that renders one match as words,
or declines (returns None) when the context says another reading applies. The
runner applies the rules in category order. Text a rule has rendered becomes a
hole (`HOLE`) that no later pattern can match, so "acme dot com" is never read
again by the abbreviation or number rules, and each rule sees only what earlier
rules left. Every pattern is scanned once per pass with `finditer` over one
string, a rule's context is bounded (`CONTEXT` characters each side, holes
filled in), and the number of passes is fixed, so the work is linear in the
length of the sentence.
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


class Context:
    """What a rule may know besides its match: the language and nearby text.

    `before` and `after` (up to `CONTEXT` characters, renderings filled in) are
    built only when a rule asks: most readings need none.
    """

    __slots__ = ("_after", "_before", "_buf", "_end", "_seen", "_start", "_store", "profile")

    def __init__(
        self,
        profile: Profile,
        buf: str = "",
        store: list[str] | None = None,
        span: tuple[int, int] = (0, 0),
        seen: int = 0,
    ) -> None:
        self.profile = profile
        self._buf, self._store, self._seen = buf, store or [], seen
        self._start, self._end = span
        self._before: str | None = None
        self._after: str | None = None

    @property
    def before(self) -> str:
        """Up to CONTEXT characters before the match (already normalized)."""
        if self._before is None:
            window = self._buf[max(0, self._start - CONTEXT) : self._start]
            first = self._seen - window.count(HOLE)
            self._before = _fill(window, self._store, first)[-CONTEXT:]
        return self._before

    @property
    def after(self) -> str:
        """Up to CONTEXT characters after the match (not yet normalized)."""
        if self._after is None:
            window = self._buf[self._end : self._end + CONTEXT]
            self._after = _fill(window, self._store, self._seen)[:CONTEXT]
        return self._after

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
    #: The characters a match can start with (`gates.gate`): a text without any
    #: of them is not scanned at all.
    gate: re.Pattern[str] | None = None


class Counter:
    """Work done by one `run` (tests bound it to prove the normalizer is linear)."""

    def __init__(self) -> None:
        self.matches = 0
        self.scanned = 0


#: Stands in for text a rule has rendered: a private-use character that no rule's
#: letters, digits, spaces or punctuation match, so rendered text is never read again
#: and acts as a boundary. Every rule scans one string, in C, once.
HOLE = "\ue000"


def run(text: str, rules: Iterable[Rule], profile: Profile, counter: Counter | None = None) -> str:
    """Apply `rules` in order; rendered spans become holes that later rules skip."""
    buf, store, _ = _run(text, rules, profile, counter)
    return _fill(buf, store, 0)


def run_pieces(
    text: str, rules: Iterable[Rule], profile: Profile, counter: Counter | None = None
) -> list[tuple[str, str]]:
    """`run`, as (written, spoken) pieces in order: what each span of the text became.

    Text no rule touched is one piece whose two sides are equal; each rendering is
    a piece of its own, so the written side of all pieces joined is the input (less
    any stray `HOLE`) and the spoken side is `run`'s output. This is the alignment
    the gateway needs to map playout time back to the client's own words.
    """
    buf, store, origins = _run(text, rules, profile, counter)
    pieces: list[tuple[str, str]] = []
    parts = buf.split(HOLE)
    for index, part in enumerate(parts):
        if part:
            pieces.append((part, part))
        if index < len(store):
            pieces.append((origins[index], store[index]))
    return pieces


def _run(
    text: str, rules: Iterable[Rule], profile: Profile, counter: Counter | None
) -> tuple[str, list[str], list[str]]:
    buf = text.replace(HOLE, "")  # a stray private-use character must not pose as a hole
    store: list[str] = []  # the rendering of each hole, in order
    origins: list[str] = []  # the written text each hole stands for, in order
    for rule in rules:
        if rule.gate is not None and rule.gate.search(buf) is None:
            continue  # nothing here can start a match
        buf, store, origins = _apply(rule, buf, store, origins, profile, counter)
    return buf, store, origins


def _fill(window: str, store: list[str], first: int) -> str:
    """`window` with its holes replaced by `store[first]`, `store[first + 1]`, ..."""
    if HOLE not in window:
        return window
    parts = window.split(HOLE)
    out = [parts[0]]
    for offset, part in enumerate(parts[1:]):
        out.append(store[first + offset])
        out.append(part)
    return "".join(out)


def _apply(
    rule: Rule,
    buf: str,
    store: list[str],
    origins: list[str],
    profile: Profile,
    counter: Counter | None,
) -> tuple[str, list[str], list[str]]:
    if counter is not None:
        counter.scanned += len(buf)
    pieces: list[str] = []
    kept: list[str] = []
    kept_origins: list[str] = []
    last = 0  # end of the text already copied into `pieces`
    copied = 0  # holes in buf[:last]
    pos, seen = 0, 0  # holes counted in buf[:pos]
    for m in rule.pattern.finditer(buf):
        if counter is not None:
            counter.matches += 1
        start, end = m.span()
        seen += buf.count(HOLE, pos, start)
        inside = buf.count(HOLE, start, end)
        pos = end
        if inside:  # never re-read a rendering (no pattern should reach into one)
            seen += inside
            continue
        try:
            spoken = rule.render(m, Context(profile, buf, store, (start, end), seen))
        except Exception:  # a rule bug costs its reading, never the sentence
            log.exception("normalize rule %s failed on %r", rule.name, m.group(0))
            spoken = None
        if spoken is None:
            continue
        pieces.append(buf[last:start])
        pieces.append(HOLE)
        kept.extend(store[copied:seen])
        kept.append(spoken)
        kept_origins.extend(origins[copied:seen])
        kept_origins.append(m.group(0))
        last, copied = end, seen
    if not pieces:
        return buf, store, origins
    pieces.append(buf[last:])
    kept.extend(store[copied:])
    kept_origins.extend(origins[copied:])
    return "".join(pieces), kept, kept_origins
