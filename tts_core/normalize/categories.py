"""Category names and the `normalize` setting: `on`, `off`, or a list of categories.

Why a setting at all: normalization changes what the caller hears, and some
applications already send speakable text (or want a code read as written).
They switch it off, or keep only the categories they trust, per session.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

#: Every category, in the order the normalizer applies them (see `pipeline.py`).
CATEGORIES: tuple[str, ...] = (
    "emails",  # jane.doe@acme.com -> jane dot doe at acme dot com
    "urls",  # acme.com/help -> acme dot com slash help
    "phone",  # +1 (555) 123-4567 -> plus one, five five five, ...
    "currency",  # $42.50, EUR 10, $1.2 million
    "times",  # 3:30 pm, 15:00
    "dates",  # 12/03/2026, Dec. 3rd, in 1999
    "percent",  # 12.5%
    "units",  # 5 kg, 72°F, 10x12
    "ordinals",  # 21st
    "codes",  # confirmation codes, mixed letter-digit tokens, #123
    "abbreviations",  # Dr., St., Mon., e.g.
    "numbers",  # cardinals, decimals, signs, ranges, fractions
    "symbols",  # & @ + = / # ~
)

ALL: frozenset[str] = frozenset(CATEGORIES)
NONE: frozenset[str] = frozenset()

_ON = ("on", "true", "yes", "all", "1")
_OFF = ("off", "false", "no", "none", "0", "")


class NormalizeSettingError(ValueError):
    """A `normalize` setting that names no known category; the message lists them."""

    field = "normalize"


def parse_setting(value: object) -> frozenset[str]:
    """The categories a `normalize` setting turns on.

    Accepted: `True`/`False`, `None` (on), `"on"`/`"off"` (and `all`/`none`,
    `true`/`false`), a comma-separated string (`"numbers,currency"`), a JSON list
    in a string (`'["numbers", "dates"]'`), or a list/tuple/set of names. A name
    prefixed with `-` removes that category from everything
    (`"-codes,-urls"` = all but codes and URLs). Raises `NormalizeSettingError`
    naming every unknown category.
    """
    if value is None or value is True:
        return ALL
    if value is False:
        return NONE
    if isinstance(value, frozenset) and value <= ALL:
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _ON:
            return ALL
        if text.lower() in _OFF:
            return NONE
        if text.startswith("["):
            try:
                decoded = json.loads(text)
            except ValueError as exc:
                raise NormalizeSettingError(f"normalize: invalid JSON list: {exc}") from exc
            if not isinstance(decoded, list):
                raise NormalizeSettingError("normalize: expected a JSON list of category names")
            return _from_names(decoded)
        return _from_names(text.split(","))
    if isinstance(value, (list, tuple, set, frozenset)):
        return _from_names(value)
    raise NormalizeSettingError(
        f"normalize must be 'on', 'off' or a list of categories, not {type(value).__name__}"
    )


def _from_names(names: Iterable[object]) -> frozenset[str]:
    keep: set[str] = set()
    drop: set[str] = set()
    bad: list[str] = []
    for raw in names:
        if not isinstance(raw, str):
            bad.append(repr(raw))
            continue
        name = raw.strip().lower()
        if not name:
            continue
        target = drop if name.startswith("-") else keep
        name = name.lstrip("-").strip()
        if name in ("all", "on"):
            target.update(ALL)
        elif name in ALL:
            target.add(name)
        else:
            bad.append(repr(raw.strip()))
    if bad:
        raise NormalizeSettingError(
            f"unknown normalize categor{'y' if len(bad) == 1 else 'ies'}: {', '.join(bad)}; "
            f"use 'on', 'off' or a list of: {', '.join(CATEGORIES)}"
        )
    if drop and not keep:
        keep = set(ALL)
    return frozenset(keep - drop)


def setting_text(categories: frozenset[str]) -> str:
    """The canonical string for a parsed setting (for `ready` events and logs)."""
    if categories == ALL:
        return "on"
    if not categories:
        return "off"
    return ",".join(c for c in CATEGORIES if c in categories)
