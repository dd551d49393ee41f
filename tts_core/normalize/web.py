"""Email addresses and web addresses, spoken the way a person reads them aloud.

"jane.doe@acme.com" is "jane dot doe at acme dot com"; "https://acme.com/help"
is "acme dot com slash help" (nobody says the scheme); "www" is "w w w"; a
two-letter country domain is spelled ("co dot u k"); digits go one by one; a
short run of consonants is spelled ("jd"). A bare domain needs a known top-level
domain, so "e.g." or "3.5" are never taken for one, and the full stop that ends
a sentence after an address stays outside it.
"""

from __future__ import annotations

import re

from . import words
from .languages import Profile
from .rules import Context, Rule

_SPOKEN_TLDS = frozenset(
    "com org net edu gov mil info biz app dev shop store online site tech cloud mobi name "
    "pro travel blog news".split()
)
_TLDS = (
    "com|org|net|edu|gov|mil|info|biz|app|dev|io|ai|co|me|tv|ly|us|uk|ca|de|fr|es|it|nl|be|"
    "ch|at|au|nz|ie|in|jp|cn|kr|ru|br|mx|se|no|dk|fi|pl|pt|eu|shop|store|online|site|tech|"
    "cloud|mobi|name|pro|travel|blog|news|gg|fm|sh"
)
_SYMBOL_KEYS = {
    ".": "dot", "/": "slash", "-": "dash", "_": "underscore", ":": "colon", "@": "at",
    "?": "question", "=": "equals", "&": "and", "#": "hash", "+": "plus", "%": "percent",
    "~": "tilde",
}  # fmt: skip
_VOWELS = set("aeiouyAEIOUY")
_TRAILING = ".,;:!?)]}'\"”’"


def _say_run(run: str, profile: Profile, tld: bool = False) -> str:
    if run.isdigit():
        return words.digits(run, profile)
    lower = run.lower()
    if tld and lower not in _SPOKEN_TLDS:
        return " ".join(lower)  # uk, io, de: spelled
    if lower == "www":
        return "w w w"
    if (len(run) <= 3 and not _VOWELS & set(run)) or (run.isupper() and len(run) <= 4):
        return " ".join(lower)
    return lower


def speak_address(text: str, profile: Profile, host: bool = True) -> str:
    """Each run of letters or digits as read, each symbol as its name (`host`: has a TLD)."""
    pieces: list[str] = []
    runs = re.findall(r"[A-Za-z]+|[0-9]+|[^A-Za-z0-9]", text)
    host_end = next((i for i, r in enumerate(runs) if r in "/?#"), len(runs))
    last_dot = max((i for i in range(host_end) if runs[i] == "."), default=-1) if host else -1
    for index, run in enumerate(runs):
        if run in _SYMBOL_KEYS:
            word = profile.word(_SYMBOL_KEYS[run])
            pieces.append(word)
        elif run.strip():
            is_tld = index == last_dot + 1 and last_dot >= 0 and index < host_end
            pieces.append(_say_run(run, profile, tld=is_tld))
    return " ".join(pieces)


def _split_trailing(match: str) -> tuple[str, str]:
    """The address and the punctuation after it; a ")" closing a "(" inside stays in."""
    body = match.rstrip(_TRAILING)
    tail = match[len(body) :]
    while tail.startswith(")") and body.count("(") > body.count(")"):
        body, tail = body + ")", tail[1:]
    return body, tail


def email_rules(profile: Profile) -> list[Rule]:
    def render(m: re.Match[str], ctx: Context) -> str | None:
        local, domain = m.group(1), m.group(2)
        return f"{speak_address(local, profile, host=False)} {profile.word('at')} " + speak_address(
            domain, profile
        )

    pattern = re.compile(
        r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63}+)@"
        r"((?:[A-Za-z0-9-]{1,63}+\.(?=[A-Za-z0-9]))++[A-Za-z]{2,24}+)(?![A-Za-z0-9-]|\.[A-Za-z0-9])"
    )
    return [Rule("emails", pattern, render, "email")]


def url_rules(profile: Profile) -> list[Rule]:
    def render(m: re.Match[str], ctx: Context) -> str | None:
        body, trailing = _split_trailing(m.group(0))
        body = re.sub(r"^(?i:https?|ftp)://", "", body)
        body = body.rstrip("/")
        if not body:
            return None
        return speak_address(body, profile) + trailing

    path = r"(?:[/?#][^\s<>\"\ue000]{0,300}+)?"
    pattern = re.compile(
        rf"(?<![A-Za-z0-9@._-])(?:(?i:https?|ftp)://[^\s<>\"\ue000]{{1,400}}+|(?i:www)\.[^\s<>\"\ue000]{{1,400}}+|"
        rf"(?:[A-Za-z0-9-]{{1,63}}+\.(?=[A-Za-z0-9]))++(?:{_TLDS})(?::\d{{1,5}})?(?![A-Za-z0-9-]){path})"
    )
    return [Rule("urls", pattern, render, "url")]
