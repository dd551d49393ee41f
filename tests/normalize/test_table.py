"""The normalization table (cases.py), one test per row, across categories and locales."""

from __future__ import annotations

import pytest

from tts_core.normalize import normalize

from .cases import TABLES

ROWS = [
    pytest.param(lang, locale, written, spoken, id=f"{table}-{index}")
    for table, rows in TABLES.items()
    for index, ((lang, locale), written, spoken) in enumerate(rows)
]


@pytest.mark.parametrize(("language", "locale", "written", "spoken"), ROWS)
def test_reading(language: str, locale: str | None, written: str, spoken: str) -> None:
    assert normalize(written, language, locale) == spoken


def test_table_is_a_few_hundred_rows() -> None:
    assert len(ROWS) >= 250
