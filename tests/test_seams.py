"""Joining pieces of a sentence, on real Piper audio: no clicks, no long gaps, no lost speech."""

from __future__ import annotations

import numpy as np
import pytest

from tts_core import SynthesisRequest
from tts_core.seams import SILENCE, SeamJoiner
from tts_core.sim_engine import SimulatedEngine

CLAUSE = ("Thank you for calling the support line,", "your call is important to us.")
WORDS = ("Please have your account", "number ready before we start.")


def render(engine, text: str) -> np.ndarray:
    return np.concatenate(list(engine.synthesize(SynthesisRequest(text))))


def join(pieces: list[np.ndarray], seams: list[str]) -> tuple[np.ndarray, list[int]]:
    """The joined sentence and where each seam falls in it."""
    joiner = SeamJoiner(22050)
    out: list[np.ndarray] = []
    at: list[int] = []
    for i, pcm in enumerate(pieces):
        if i:
            at.append(sum(len(x) for x in out))
        joiner.begin(first=i == 0, last=i == len(pieces) - 1, seam=seams[i])
        out += [joiner.feed(pcm[k : k + 4096]) for k in range(0, len(pcm), 4096)]  # streamed
        out.append(joiner.end())
    return np.concatenate(out), at


def silence_ms(pcm: np.ndarray, at: int, rate: int = 22050) -> float:
    """Length of the quiet stretch around sample `at` (5 ms envelope below -40 dBFS)."""
    w = rate // 200
    env = np.convolve(np.abs(pcm.astype(float)), np.ones(w) / w, mode="same")
    quiet = env < SILENCE
    lo = hi = min(at, len(pcm) - 1)
    while lo > 0 and quiet[lo - 1]:
        lo -= 1
    while hi < len(pcm) - 1 and quiet[hi]:
        hi += 1
    return (hi - lo) / rate * 1000


def step_at(pcm: np.ndarray, at: int, rate: int = 22050) -> float:
    """Largest sample-to-sample jump within 1 ms of the seam."""
    w = rate // 1000
    window = pcm[max(0, at - w) : at + w].astype(int)
    return float(np.max(np.abs(np.diff(window)))) if len(window) > 1 else 0.0


@pytest.fixture(scope="module")
def pieces(piper_engine):
    return {name: [render(piper_engine, t) for t in texts] for name, texts in
            (("clause", CLAUSE), ("word", WORDS))}  # fmt: skip


def test_a_cut_between_words_leaves_a_word_gap_not_an_utterance_pause(pieces) -> None:
    joined, (seam,) = join(pieces["word"], ["word", ""])
    naive = np.concatenate(pieces["word"])
    naive_gap = silence_ms(naive, len(pieces["word"][0]))
    # Played back to back, Piper's own trailing and leading silence make a long pause...
    assert naive_gap > 150, naive_gap
    # ... which the joiner cuts to a word gap: 40 ms kept + 10 ms lead, plus the quiet
    # edges of the words themselves (Piper samples noise, so this varies: 50-65 ms seen).
    assert silence_ms(joined, seam) <= 90
    assert silence_ms(joined, seam) < naive_gap / 2


def test_a_cut_at_a_clause_keeps_a_comma_pause(pieces) -> None:
    joined, (seam,) = join(pieces["clause"], ["clause", ""])
    gap = silence_ms(joined, seam)
    assert 80 <= gap <= 350, gap  # Piper pauses about 300 ms at a comma inside a sentence


@pytest.mark.parametrize("kind", ["word", "clause"])
def test_pieces_meet_at_silence_without_a_click(pieces, kind) -> None:
    joined, (seam,) = join(pieces[kind], [kind, ""])
    assert np.max(np.abs(joined[seam - 22 : seam + 22].astype(int))) < SILENCE
    assert step_at(joined, seam) < SILENCE


@pytest.mark.parametrize("kind", ["word", "clause"])
def test_no_speech_is_lost_and_the_ends_are_untouched(pieces, kind) -> None:
    first, second = pieces[kind]
    joined, _ = join(pieces[kind], [kind, ""])

    def loud(x: np.ndarray) -> int:
        return int(np.sum(np.abs(x.astype(int)) >= SILENCE))

    assert loud(joined) >= 0.99 * (loud(first) + loud(second))
    # The sentence starts and ends as the engine made it: the first piece's lead and the
    # last piece's tail are not trimmed.
    assert np.array_equal(joined[:2000], first[:2000])
    assert np.array_equal(joined[-2000:], second[-2000:])


def test_a_tone_cut_mid_wave_is_faded_at_the_seam() -> None:
    # The sim engine restarts its tone at phase 0 in every piece: joined raw that is a
    # step of up to twice the amplitude; faded, the steps are no larger than the tone's own.
    engine = SimulatedEngine(sample_rate=22050)
    a, b = (render(engine, t) for t in ("abcdefg", "hijk"))
    tone_step = float(np.max(np.abs(np.diff(a[:2000].astype(int)))))
    raw = np.concatenate([a, b])
    assert step_at(raw, len(a)) > 2 * tone_step
    joined, (seam,) = join([a, b], ["word", ""])
    assert step_at(joined, seam) <= tone_step
    assert len(joined) == len(a) + len(b)  # no silence in a tone: nothing trimmed


def test_a_sentence_rendered_whole_passes_through_untouched(pieces) -> None:
    whole = pieces["clause"][0]
    joined, _ = join([whole], [""])
    assert np.array_equal(joined, whole)
