"""A preemption quantum for an engine that cannot be preempted.

Why: the engine renders one request at a time and cannot be interrupted, so a
caller who arrives while a long sentence renders waits for all of it, however
fairly the scheduler then picks the next request. Thirty sessions of one
tenant, each sending one 390-character sentence, kept another tenant's caller
waiting the remaining render of whichever long sentence held the engine.

So when other requests are waiting for the engine (contention), a long
request is rendered in pieces, each a separate trip through the scheduler:
the waiting callers are served between pieces. A piece ends at a clause
boundary when one is close enough to the budget (the pause is natural there),
else at a word boundary; `tts_core.seams` joins the pieces' audio so the
listener hears neither clicks nor long gaps. Without contention a sentence
renders whole, so its prosody is what the engine makes of the whole sentence.

A piece holds about `piece_s` of speech (2 s by default: a clause, six to
eight words), so no render under contention takes longer than the core's
moving real-time factor times that (`Quantum.target_s`: 60-140 ms for Piper on
two cores, 0.5 s for the sim engine at RTF 0.25). The quantum is set in audio,
not in engine time, because what a waiting caller is promised is relative: its
first audio alone also takes RTF x the length of its sentence, so on a slow
host or engine both grow together, and a fixed time budget would cut a slow
engine's sentences into single words (each its own utterance, with the
prosody and per-call cost of one). The budget is counted in speech units
(`tts_core.budget.speech_units`), with the audio one unit lasts learned here,
piece by piece.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .budget import _is_cjk, speech_units
from .engine import SynthesisRequest
from .seams import SeamJoiner

if TYPE_CHECKING:
    from .core import Timing

DEFAULT_PIECE_S = 2.0  # speech per piece under contention
FIRST_SHARE = 0.5  # a sentence's first piece is shorter: it is what its listener waits for
PRIOR_AUDIO_PER_UNIT_S = 0.25  # until measured: about 0.2 s for Piper, 0.3 s for the sim
SMOOTHING = 0.2  # weight of the newest piece in the moving audio-per-unit figure

# Where a clause ends: the mark, then a space (or a CJK mark, which needs none).
_CLAUSE_MARKS = frozenset(",;:—–")
_CJK_CLAUSE_MARKS = frozenset("，、；：")
_CLOSERS = frozenset("\"')]}»”’")


@dataclass(frozen=True)
class Cut:
    """`text` split into the piece to render now and the rest; `seam` says where it was cut."""

    head: str
    rest: str
    seam: str  # "clause", "word" or "" (the head is the whole text)


def _cuts(text: str) -> tuple[list[int], list[int]]:
    """Candidate cut positions (indices into `text`): after clauses, and between words."""
    clauses: list[int] = []
    words: list[int] = []
    n = len(text)
    for i, ch in enumerate(text):
        if ch in _CJK_CLAUSE_MARKS and i + 1 < n:
            clauses.append(i + 1)
        elif ch.isspace() and i > 0 and not text[i - 1].isspace():
            words.append(i)
            j = i - 1
            while j > 0 and text[j] in _CLOSERS:
                j -= 1
            if text[j] in _CLAUSE_MARKS or (text[j] == "-" and j > 0 and text[j - 1].isspace()):
                clauses.append(i)
        elif _is_cjk(ch) and i + 1 < n and _is_cjk(text[i + 1]):
            words.append(i + 1)  # CJK writes no spaces: any character boundary will do
    return clauses, words


def cut(text: str, max_units: float) -> Cut:
    """The longest head of `text` within `max_units`, cut where speech pauses best.

    A clause boundary is taken when it leaves a head of at least half the
    budget (a comma pause is where a listener expects one); otherwise the last
    word boundary within the budget. A head is never less than one word, so a
    single long word may exceed a tiny budget rather than be cut inside.
    """
    text = text.strip()
    if not text or speech_units(text) <= max_units:
        return Cut(text, "", "")
    clauses, words = _cuts(text)

    def fits(pos: int) -> bool:
        return speech_units(text[:pos]) <= max_units

    best_clause = _last(clauses, fits)
    if best_clause is not None and speech_units(text[:best_clause]) >= max_units / 2:
        return _split(text, best_clause, "clause")
    best_word = _last(words, fits)
    if best_word is not None:
        seam = "clause" if best_word in clauses else "word"
        return _split(text, best_word, seam)
    if words:  # not even one word fits: take one
        return _split(text, words[0], "clause" if words[0] in clauses else "word")
    return Cut(text, "", "")


def _last(positions: list[int], fits: Callable[[int], bool]) -> int | None:
    """The last position that fits (positions ascend and fitting is monotonic)."""
    lo, hi, found = 0, len(positions) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(positions[mid]):
            found, lo = positions[mid], mid + 1
        else:
            hi = mid - 1
    return found


def _split(text: str, pos: int, seam: str) -> Cut:
    head, rest = text[:pos].strip(), text[pos:].strip()
    return Cut(head, rest, seam) if rest else Cut(text, "", "")


class Turns(Protocol):
    """What the pieces loop needs from the speech core."""

    rtf: float

    @property
    def sample_rate(self) -> int: ...

    def contended(self) -> bool:
        """Whether another request holds or waits for the engine right now."""
        ...

    def deadline(self, text: str, buffered_s: float) -> float: ...

    def trip(
        self,
        request: SynthesisRequest,
        *,
        deadline: float,
        tenant: str,
        cost: float,
        timing: Timing,
    ) -> AsyncIterator[np.ndarray]:
        """One turn on the engine: wait for a slot, render `request` whole, give the slot back."""
        ...


class Quantum:
    """How much of a sentence may be rendered in one turn while others wait."""

    def __init__(
        self, piece_s: float = DEFAULT_PIECE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.piece_s = piece_s  # 0 or less: never cut
        self.audio_per_unit_s = PRIOR_AUDIO_PER_UNIT_S
        self._clock = clock
        self.pieces = 0  # trips that rendered part of a sentence, for tests and metrics

    def target_s(self, rtf: float) -> float:
        """The longest a render should hold the engine under contention, at `rtf`."""
        return rtf * self.piece_s

    def max_units(self) -> float:
        """Units a piece may hold: `piece_s` of speech, so its render takes `target_s(rtf)`.

        (`target_s(rtf)` / (`rtf` x audio per unit): the real-time factor cancels out.)
        """
        if self.piece_s <= 0:
            return math.inf
        return self.piece_s / self.audio_per_unit_s

    def observe(self, text: str, audio_s: float) -> None:
        units = speech_units(text)
        if units >= 1 and audio_s > 0:
            per_unit = audio_s / units
            self.audio_per_unit_s += SMOOTHING * (per_unit - self.audio_per_unit_s)

    async def render(
        self,
        core: Turns,
        request: SynthesisRequest,
        *,
        buffered_s: float,
        timing: Timing,
        tenant: str,
    ) -> AsyncIterator[np.ndarray]:
        """Yield the sentence's audio, rendered whole or, under contention, piece by piece.

        Each piece is decided when it asks for the engine: with the engine free
        and nobody waiting, the rest of the sentence goes whole. The first piece
        is half the usual length, so a caller who arrives under contention hears
        its first words after at most one piece of someone else's and a short one
        of its own. A later piece's deadline is when the listener will have heard
        everything so far.
        """
        from .core import Timing  # here, not at the top: the core imports this module

        rest = request.text
        if not rest.strip() or self.piece_s <= 0:
            async for chunk in core.trip(
                request,
                deadline=core.deadline(rest, buffered_s),
                tenant=tenant,
                cost=speech_units(rest),
                timing=timing,
            ):
                yield chunk
            return
        joiner = SeamJoiner(core.sample_rate)
        playout_from: float | None = None  # when this sentence starts playing
        audio_s = 0.0
        first = True
        while rest:
            if core.contended():
                piece = cut(rest, self.max_units() * (FIRST_SHARE if first else 1.0))
            else:
                piece = Cut(rest, "", "")
            now = self._clock()
            ahead = buffered_s if playout_from is None else playout_from + audio_s - now
            trip_timing = Timing(asked=now)
            joiner.begin(first=first, last=not piece.rest, seam=piece.seam)
            samples = 0
            part = dataclasses.replace(request, text=piece.head, normalize="off")
            turn = core.trip(
                part,
                deadline=core.deadline(piece.head, ahead),
                tenant=tenant,
                cost=speech_units(piece.head),
                timing=trip_timing,
            )
            async with contextlib.aclosing(turn):
                async for chunk in turn:
                    samples += len(chunk)
                    if playout_from is None:
                        playout_from = max(self._clock(), timing.asked + buffered_s)
                    out = joiner.feed(chunk)
                    if out.size:
                        audio_s += len(out) / core.sample_rate
                        yield out
            tail = joiner.end()
            if tail.size:
                audio_s += len(tail) / core.sample_rate
                yield tail
            if first:
                timing.started = trip_timing.started
            timing.finished = trip_timing.finished
            if piece.rest or not first:
                self.pieces += 1
            self.observe(piece.head, samples / core.sample_rate)
            rest, first = piece.rest, False
