"""First-character gates change how fast a rule scans, never what it matches."""

from __future__ import annotations

import re

import pytest

from tts_core.normalize import resolve, rules_for, ungated_rules
from tts_core.normalize.gates import first_class, gate
from tts_core.normalize.languages import SUPPORTED

from .cases import TABLES
from .test_bounded import PATHOLOGICAL

TEXTS = [written for rows in TABLES.values() for _, written, _ in rows] + [
    make(400) for makers in PATHOLOGICAL.values() for make in makers
] + ["١٢٣ and １２３ at ３:３０", "\u202f5\u00a0000", "x" * 50]  # fmt: skip


@pytest.mark.parametrize("language", [*SUPPORTED, "nl", "vi"])
def test_gated_rules_find_exactly_what_ungated_ones_do(language: str) -> None:
    profile = resolve(language)
    gated = rules_for(profile)
    raw = ungated_rules(profile)
    assert [r.name for r in gated] == [r.name for r in raw]
    for fast, slow in zip(gated, raw, strict=True):
        for text in TEXTS:
            want = [(m.span(), m.groups()) for m in slow.pattern.finditer(text)]
            assert [(m.span(), m.groups()) for m in fast.pattern.finditer(text)] == want, (
                fast.name,
                text,
            )
            if fast.gate is not None and fast.gate.search(text) is None:
                assert not want, (fast.name, text)  # a skipped scan would have found nothing


def test_most_english_rules_are_gated() -> None:
    rules = rules_for(resolve("en"))
    assert sum(r.gate is not None for r in rules) >= len(rules) - 5


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"(?<![0-9])\d+", r"[\d]"),
        (r"[-+]?\d", r"[\+\-\d]"),
        (r"(?:ab|c)d", "[ac]"),
        (r"x?y*z", "[xyz]"),
        (r"(?i:abc)", None),  # case-insensitive: not bounded here
        (r"[^a]b", None),  # a negated class: anything
        (r".a", None),
        (r"a?", None),  # may match empty: no gate
        (r"(?>\d+)|\$", r"[\$\d]"),
    ],
)
def test_first_classes(pattern: str, expected: str | None) -> None:
    assert first_class(re.compile(pattern)) == expected


def test_a_gate_keeps_the_groups() -> None:
    pattern = re.compile(r"(a)(b)?")
    gated, cls = gate(pattern)
    assert gated.groups == 2 and cls is not None and gated.match("ab").groups() == ("a", "b")
