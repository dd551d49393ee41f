"""Streaming decode: early first audio, chunks that join without seams.

Each request's audio leaves in chunks while it is still being generated: the
first after `first_chunk_frames` codec frames, the rest every `chunk_frames`,
each decoded with left context. Joined, the chunks must equal a decode of the
whole utterance to within float rounding, and nothing at a seam may jump more
than the signal itself does from one sample to the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.qwen.runtime_support import TEXTS, Recorder
from tests.qwen.tiny_checkpoint import SAMPLES_PER_FRAME
from tts_core.engine import float_to_int16
from tts_core.qwen import QwenEngine
from tts_core.qwen.streaming import ChunkPolicy, Window, decode_windows


def make(tiny: Path, **kw: object) -> QwenEngine:
    engine = QwenEngine(str(tiny), device="cpu", slots=4, seed=5, **kw)  # type: ignore[arg-type]
    engine.load()
    return engine


@pytest.fixture(scope="module")
def engine(tiny_qwen_dir: Path) -> Iterator[QwenEngine]:
    engine = make(tiny_qwen_dir)
    yield engine
    engine.unload()


def whole(engine: QwenEngine, codes: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        wav = engine._runtime.model.decode_codes(codes[None])[0]
    return float_to_int16(wav.numpy())


def test_joined_chunks_equal_the_whole_utterance(engine: QwenEngine) -> None:
    rec = Recorder(engine)
    rec.submit("a", TEXTS[1], budget=61)  # 60 frames
    rec.run()
    got = rec.received["a"]
    sizes = [c.size // SAMPLES_PER_FRAME for c in got.chunks]
    # Each chunk at most the audio already sent, growing to 8: the listener never waits.
    assert sizes == [3, 3, 6, 8, 8, 8, 8, 8, 8]
    reference = whole(engine, rec.codes["a"])
    assert got.audio.size == reference.size == 60 * SAMPLES_PER_FRAME
    error = np.abs(got.audio.astype(np.int32) - reference.astype(np.int32)).max()
    assert error <= 4, f"chunked audio differs from the whole decode by {error} LSB"


def steps_at(audio: np.ndarray, seams: np.ndarray) -> np.ndarray:
    return np.abs(np.diff(audio.astype(np.float64)))[seams]


def test_no_seam_clicks_with_the_default_context(engine: QwenEngine) -> None:
    """A click is a jump the chunking adds: at every seam the step from one sample
    to the next is what the unchunked decode has there (the tiny random codec's
    audio is noise-like, so the signal's own steps are large), and no seam steps
    further than the signal does anywhere else."""
    rec = Recorder(engine)
    for i in range(3):
        rec.submit(i, TEXTS[i], budget=50, seed=10 + i)
    rec.run()
    for i in range(3):
        got = rec.received[i]
        seams = np.cumsum([c.size for c in got.chunks])[:-1] - 1
        chunked = steps_at(got.audio, seams)
        unchunked = steps_at(whole(engine, rec.codes[i]), seams)
        own = np.delete(np.abs(np.diff(got.audio.astype(np.float64))), seams).max()
        assert np.abs(chunked - unchunked).max() <= 8, "chunking changed a seam"
        assert chunked.max() <= own


def test_too_little_context_is_what_makes_seams_differ(tiny_qwen_dir: Path) -> None:
    """Why the default is 72 frames: with none, chunks drift from the whole decode."""
    errors = {}
    for context in (0, 72):
        engine = make(tiny_qwen_dir, context_frames=context)
        try:
            rec = Recorder(engine)
            rec.submit("a", TEXTS[2], budget=41)
            rec.run()
            ref = whole(engine, rec.codes["a"]).astype(np.int32)
            errors[context] = np.abs(rec.received["a"].audio.astype(np.int32) - ref).max()
        finally:
            engine.unload()
    assert errors[72] <= 4 < errors[0]


@pytest.mark.parametrize("first", [2, 3, 4])
def test_the_first_chunk_leaves_after_the_configured_frames(
    tiny_qwen_dir: Path, first: int
) -> None:
    engine = make(tiny_qwen_dir, first_chunk_frames=first, chunk_frames=6)
    try:
        rec = Recorder(engine)
        rec.submit("a", TEXTS[0], budget=30)
        rec.run()
        got = rec.received["a"]
        # Step 1 prefills and decodes frame 1; frame n is done at step n.
        assert got.chunk_steps[0] == first
        assert got.chunks[0].size == first * SAMPLES_PER_FRAME
        assert got.chunks[1].size == first * SAMPLES_PER_FRAME  # no longer than what was sent
        assert got.chunks[2].size == min(6, 2 * first) * SAMPLES_PER_FRAME  # then doubling
    finally:
        engine.unload()


def test_without_streaming_one_chunk_comes_at_the_end(tiny_qwen_dir: Path) -> None:
    engine = make(tiny_qwen_dir, streaming=False)
    try:
        rec = Recorder(engine)
        rec.submit("a", TEXTS[0], budget=21)
        rec.run()
        assert [c.size // SAMPLES_PER_FRAME for c in rec.received["a"].chunks] == [20]
        assert rec.received["a"].chunk_steps == [20]
    finally:
        engine.unload()


def test_chunks_of_several_slots_decode_as_one_batch(engine: QwenEngine) -> None:
    """Right padding a causal decoder changes nothing before the padding."""
    model = engine._runtime.model
    codes = torch.randint(0, 2048, (4, 90, 16))
    windows = [Window(0, 0, 0, 11), Window(1, 12, 40, 48), Window(2, 0, 3, 90), Window(3, 5, 5, 6)]
    policy = ChunkPolicy()
    assert policy.ready(3, 0, final=False) and not policy.ready(2, 0, final=False)
    with torch.inference_mode():
        batched = decode_windows(model, codes, windows)
        single = [decode_windows(model, codes, [w])[0] for w in windows]
    for w, a, b in zip(windows, batched, single, strict=True):
        assert a.size == b.size == (w.end - w.start) * SAMPLES_PER_FRAME
        assert np.abs(a.astype(np.int32) - b.astype(np.int32)).max() <= 2
