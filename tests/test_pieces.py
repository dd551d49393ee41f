"""The preemption quantum: where long sentences are cut, how big a piece may be, and the loop
that renders them one scheduler trip each (with a fake core: no engine, no clock races)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
import pytest

from tests.fakes import ManualClock
from tts_core import SynthesisRequest, Timing
from tts_core.budget import speech_units
from tts_core.pieces import Quantum, cut

LONG = (
    "Thank you for calling the support line, your call is important to us and we will "
    "answer it as soon as an agent is free, meanwhile please have your account number ready."
)


def words(text: str) -> list[str]:
    return text.split()


# -- the splitter -----------------------------------------------------------------------


def test_text_within_the_budget_is_not_cut() -> None:
    assert cut(LONG, speech_units(LONG)).rest == ""
    assert cut("  Short one.  ", 100).head == "Short one."


def test_a_clause_boundary_is_preferred_when_it_leaves_half_the_budget() -> None:
    budget = speech_units("Thank you for calling the support line, your call")
    piece = cut(LONG, budget)
    assert piece.head == "Thank you for calling the support line,"
    assert piece.seam == "clause"
    assert words(piece.head) + words(piece.rest) == words(LONG)  # nothing lost or doubled


def test_a_word_boundary_when_no_clause_ends_in_the_budget() -> None:
    budget = speech_units("Thank you for calling")
    piece = cut(LONG, budget)
    assert piece.head == "Thank you for calling"
    assert piece.seam == "word"
    assert speech_units(piece.head) <= budget


def test_a_far_clause_loses_to_a_word_cut_near_the_budget() -> None:
    # The clause ends after 2 units but the budget allows 12: the pause is not worth a
    # piece a sixth of the size the budget allows.
    text = "Hi, " + " ".join(["word"] * 20)
    piece = cut(text, 12)
    assert piece.seam == "word" and speech_units(piece.head) == 12


def test_never_less_than_one_word_even_for_a_tiny_budget() -> None:
    piece = cut("Extraordinarily long words here", 0.5)
    assert piece.head == "Extraordinarily" and piece.rest == "long words here"


@pytest.mark.parametrize("budget", [1, 2, 3, 5, 8, 13])
def test_cutting_repeatedly_covers_the_text_in_order_within_the_budget(budget) -> None:
    rest, heads = LONG, []
    while rest:
        piece = cut(rest, budget)
        heads.append(piece.head)
        rest = piece.rest
        assert speech_units(piece.head) <= budget or len(words(piece.head)) == 1
    assert words(" ".join(heads)) == words(LONG)


def test_cjk_text_is_cut_after_its_clause_marks_or_between_characters() -> None:
    text = "您好，欢迎致电客户服务中心，请稍候"
    piece = cut(text, 6)
    assert piece.head == "您好，" and piece.seam == "clause"
    piece = cut("欢迎致电客户服务中心", 4)
    assert piece.head == "欢迎致电" and piece.rest == "客户服务中心"


def test_a_dash_and_closing_quotes_count_as_clause_ends() -> None:
    text = 'He said "wait," and then - after a while - left the room'
    assert cut(text, 5).head == 'He said "wait,"'  # the comma inside the quotes
    assert cut(text, 7).head == 'He said "wait," and then -'  # a spaced hyphen as a dash
    assert cut(text, 7).seam == "clause"


# -- the budget ---------------------------------------------------------------------------


def test_a_piece_is_a_fixed_length_of_speech_and_its_render_follows_the_rtf() -> None:
    quantum = Quantum(2.0)
    quantum.audio_per_unit_s = 0.25
    assert quantum.max_units() == pytest.approx(8)  # 2 s of speech, a unit lasting 0.25 s
    # The longest render under contention scales with the engine, as a sentence alone does.
    assert quantum.target_s(0.03) == pytest.approx(0.06)
    assert quantum.target_s(0.25) == pytest.approx(0.5)
    assert Quantum(0).max_units() == float("inf")  # off


def test_audio_per_unit_is_learned_from_rendered_pieces() -> None:
    quantum = Quantum(2.0)
    for _ in range(50):
        quantum.observe("one two three four", audio_s=1.2)  # 4 units, 0.3 s each
    assert quantum.audio_per_unit_s == pytest.approx(0.3, rel=0.01)


# -- the loop -----------------------------------------------------------------------------


@dataclass
class FakeCore:
    """The `Turns` a `Quantum` drives: records each trip; contention is set by the test."""

    clock: ManualClock
    contention: list[bool]  # one answer per trip (the last one repeats)
    rtf: float = 0.05
    sample_rate: int = 8000
    audio_per_unit_s: float = 0.2
    trips: list[tuple[str, float, float]] = field(default_factory=list)  # text, deadline, cost

    def contended(self) -> bool:
        return self.contention[min(len(self.trips), len(self.contention) - 1)]

    def deadline(self, text: str, buffered_s: float) -> float:
        return self.clock() + buffered_s  # no render estimate: the playout alone

    async def trip(
        self, request: SynthesisRequest, *, deadline: float, tenant: str, cost: float, timing
    ) -> AsyncIterator[np.ndarray]:
        self.trips.append((request.text, deadline, cost))
        timing.started = self.clock()
        samples = round(speech_units(request.text) * self.audio_per_unit_s * self.sample_rate)
        self.clock.advance(samples / self.sample_rate * self.rtf)  # the render takes time
        timing.finished = self.clock()
        yield np.full(samples, 5000, dtype=np.int16)


async def render(core: FakeCore, quantum: Quantum, text: str, buffered_s: float = 0.0):
    timing = Timing(asked=core.clock())
    chunks = [
        c
        async for c in quantum.render(
            core, SynthesisRequest(text), buffered_s=buffered_s, timing=timing, tenant="t"
        )
    ]
    return chunks, timing


async def test_without_contention_the_sentence_is_one_trip_and_untouched() -> None:
    core = FakeCore(ManualClock(), contention=[False])
    quantum = Quantum(2.0, core.clock)
    chunks, _ = await render(core, quantum, LONG)
    assert [t[0] for t in core.trips] == [LONG]
    assert len(chunks) == 1 and np.all(chunks[0] == 5000)  # no seam processing at all
    assert quantum.pieces == 0


async def test_under_contention_no_trip_exceeds_the_quantum() -> None:
    clock = ManualClock()
    core = FakeCore(clock, contention=[True])
    quantum = Quantum(2.0, clock)
    quantum.audio_per_unit_s = core.audio_per_unit_s
    _, timing = await render(core, quantum, LONG)
    texts = [t[0] for t in core.trips]
    assert len(texts) > 3 and words(" ".join(texts)) == words(LONG)
    for text, _, cost in core.trips:
        render_s = speech_units(text) * core.audio_per_unit_s * core.rtf
        assert render_s <= quantum.target_s(core.rtf) + 1e-9
        assert cost == speech_units(text)  # the scheduler charges the piece, not the sentence
    # The first piece, the one its listener waits for, is at most half a piece.
    first_s = speech_units(texts[0]) * core.audio_per_unit_s
    assert first_s <= quantum.piece_s / 2 + 1e-9
    assert max(speech_units(t) for t in texts[1:]) > speech_units(texts[0])
    assert quantum.pieces == len(texts)
    assert timing.started == pytest.approx(1000.0)  # the first trip's start ...
    assert timing.finished == pytest.approx(clock())  # ... to the last trip's end


async def test_the_rest_goes_whole_once_contention_is_over() -> None:
    core = FakeCore(ManualClock(), contention=[True, False])
    quantum = Quantum(2.0, core.clock)
    quantum.audio_per_unit_s = core.audio_per_unit_s
    await render(core, quantum, LONG)
    first, rest = core.trips[0][0], core.trips[1][0]
    assert len(core.trips) == 2 and words(first) + words(rest) == words(LONG)


async def test_a_later_piece_is_due_when_the_audio_before_it_runs_out() -> None:
    clock = ManualClock()
    core = FakeCore(clock, contention=[True])
    quantum = Quantum(2.0, clock)
    quantum.audio_per_unit_s = core.audio_per_unit_s
    await render(core, quantum, LONG, buffered_s=2.0)
    assert core.trips[0][1] == pytest.approx(1000.0 + 2.0)  # the listener's own buffer
    # Each later piece may wait until everything rendered before it has played: the
    # deadlines grow by the audio of the pieces before (ratio to the render, 1/RTF = 20x).
    deadlines = [t[1] for t in core.trips]
    audio = [speech_units(t[0]) * core.audio_per_unit_s for t in core.trips]
    for k in range(1, len(deadlines)):
        gained = deadlines[k] - deadlines[k - 1]
        assert gained > audio[k - 1] * 0.5, (k, gained, audio[k - 1])


async def test_leaving_early_closes_the_trip_in_progress() -> None:
    closed = asyncio.Event()

    class Core(FakeCore):
        async def trip(self, request, **kw):
            try:
                async for chunk in super().trip(request, **kw):
                    yield chunk
                await asyncio.sleep(10)
            finally:
                closed.set()

    core = Core(ManualClock(), contention=[True])
    quantum = Quantum(2.0, core.clock)
    stream = quantum.render(core, SynthesisRequest(LONG), buffered_s=0, timing=Timing(), tenant="t")
    await stream.__anext__()
    await stream.aclose()  # a barge-in: the engine is told at once, not at garbage collection
    assert closed.is_set()
