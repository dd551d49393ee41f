"""First-character gates: let each rule's scan skip, in C, what cannot start a match.

Every rule scans the whole sentence, about fifty patterns per sentence in
English, so the scan itself is most of the normalizer's cost on a long
sentence (2000 characters may be allowed). Most patterns open with a
lookbehind or an optional sign, which keeps Python's regex engine from
skipping quickly to the places a match could start: it runs the whole pattern
at every position. A gate is the set of characters a match can begin with,
derived from the pattern itself: prefixed as a lookahead it turns most
positions into a one-character test, and when none of those characters is in
the text at all the rule is not run.

The set is derived from the parsed pattern and is always a superset of the
true first characters: whatever the derivation cannot follow (a case-
insensitive group, a negated class, a pattern that may match nothing) means no
gate, never a wrong one. Gated and ungated patterns give the same matches
(tests/normalize/test_gates.py checks it on the whole table).
"""

from __future__ import annotations

import re
from typing import Any

try:  # the parser behind `re`; without it (another Python), rules run ungated
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser as _p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    _p = _c = None

_CATEGORIES = {"CATEGORY_DIGIT": r"\d", "CATEGORY_SPACE": r"\s", "CATEGORY_WORD": r"\w"}
_ZERO_WIDTH = ("AT", "ASSERT", "ASSERT_NOT")
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


class _Open(Exception):
    """The pattern's first character cannot be bounded: no gate."""


def first_class(pattern: re.Pattern[str]) -> str | None:
    """A character class (`[...]`) every match of `pattern` starts with, or None."""
    if _p is None or pattern.flags & re.IGNORECASE:
        return None
    try:
        parsed = _p.parse(pattern.pattern, pattern.flags)
        items, nullable = _first(list(parsed))
    except (_Open, RecursionError, TypeError, ValueError, AttributeError):
        return None
    if nullable or not items:
        return None
    return "[" + "".join(sorted(items)) + "]"


def gate(pattern: re.Pattern[str]) -> tuple[re.Pattern[str], re.Pattern[str] | None]:
    """(`pattern` behind its first-character lookahead, the class alone) or as it was."""
    cls = first_class(pattern)
    if cls is None:
        return pattern, None
    gated = re.compile(f"(?={cls})(?:{pattern.pattern})", pattern.flags)
    if gated.groups != pattern.groups:  # pragma: no cover - a (?:...) adds no group
        return pattern, None
    return gated, re.compile(cls)


def _first(seq: list[Any]) -> tuple[set[str], bool]:
    """First-character class items of a parsed sequence, and whether it can match empty."""
    found: set[str] = set()
    for op, av in seq:
        name = str(op)
        if name in _ZERO_WIDTH:
            continue
        items, nullable = _one(name, av)
        found |= items
        if not nullable:
            return found, False
    return found, True


def _one(name: str, av: Any) -> tuple[set[str], bool]:
    if name == "LITERAL":
        return {re.escape(chr(av))}, False
    if name == "IN":
        return _charset(av), False
    if name == "SUBPATTERN":
        _, add_flags, _, sub = av
        if add_flags & re.IGNORECASE:
            raise _Open
        return _first(list(sub))
    if name == "ATOMIC_GROUP":
        return _first(list(av))
    if name == "BRANCH":
        found: set[str] = set()
        nullable = False
        for branch in av[1]:
            items, empty = _first(list(branch))
            found |= items
            nullable = nullable or empty
        return found, nullable
    if name in _REPEATS:
        low, _, sub = av
        items, empty = _first(list(sub))
        return items, empty or low == 0
    raise _Open  # ANY, NOT_LITERAL, group references ...


def _charset(items: Any) -> set[str]:
    out: set[str] = set()
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            out.add(re.escape(chr(av)))
        elif name == "RANGE":
            out.add(f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}")
        elif name == "CATEGORY" and str(av) in _CATEGORIES:
            out.add(_CATEGORIES[str(av)])
        else:  # NEGATE, other categories: cannot bound
            raise _Open
    return out
