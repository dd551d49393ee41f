"""QwenEngine(streaming=True): audio chunks while the tiny model is still generating.

No wall-clock thresholds: "before generation ends" is proven by making generation
wait for the first chunk (a deadlock guard, not a timing assertion).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.qwen.tiny_checkpoint import SAMPLES_PER_FRAME
from tts_core.engine import EngineError, InvalidRequest, SynthesisRequest
from tts_core.qwen_engine import QwenEngine

TEXT = "Streaming lets a caller hear the start of a sentence early."
CAP = 36  # 35 frames: several chunks, and windows that start beyond the 25-frame context
DEADLOCK_GUARD_S = 30.0


@pytest.fixture
def engine(tiny_qwen_dir: Path) -> Iterator[QwenEngine]:
    engine = QwenEngine(str(tiny_qwen_dir), device="cpu", seed=7, token_budget=lambda _t, _l: CAP)
    engine.load()
    yield engine
    engine.unload()


@pytest.fixture
def hooks() -> Iterator[list[Any]]:
    """Handles of hooks a test adds to the talker; removed after the test."""
    handles: list[Any] = []
    yield handles
    for handle in handles:
        handle.remove()


def talker_steps(engine: QwenEngine, hooks: list[Any]) -> list[int]:
    """Count talker forward passes (prefill included) through a hook of the test's own."""
    steps: list[int] = []
    hooks.append(engine._tts.model.talker.register_forward_hook(lambda *_: steps.append(1)))
    return steps


def test_streamed_chunks_add_up_to_the_whole_sentence(engine: QwenEngine) -> None:
    whole = list(engine.synthesize(SynthesisRequest(text=TEXT, voice="aiden")))
    engine.streaming = True
    chunks = list(engine.synthesize(SynthesisRequest(text=TEXT, voice="aiden")))

    assert len(whole) == 1 and len(chunks) >= 4
    assert all(c.dtype == np.int16 and c.ndim == 1 and c.size > 0 for c in chunks)
    assert all(c.size % SAMPLES_PER_FRAME == 0 for c in chunks)
    assert chunks[0].size == 4 * SAMPLES_PER_FRAME  # half a chunk first, for a fast first sound
    assert all(c.size == 8 * SAMPLES_PER_FRAME for c in chunks[1:-1])
    streamed = np.concatenate(chunks)
    assert streamed.size == whole[0].size == (CAP - 1) * SAMPLES_PER_FRAME
    # Same seed, same codes; windows with 25 frames of left context decode almost exactly.
    diff = np.abs(streamed.astype(np.int32) - whole[0].astype(np.int32))
    assert diff.max() <= 0.05 * 32767
    head = 25 * SAMPLES_PER_FRAME  # decoded with all of its left context: exact
    assert diff[:head].max() <= 2


def test_the_first_chunk_arrives_while_generation_is_still_running(
    engine: QwenEngine, hooks: list[Any]
) -> None:
    engine.streaming = True
    first_chunk = threading.Event()
    waited_in_vain: list[bool] = []
    steps = talker_steps(engine, hooks)

    def hold_generation(*_args: Any) -> None:
        # From the 10th step on, generation waits until the consumer has a chunk.
        if len(steps) >= 10 and not first_chunk.is_set():
            waited_in_vain.append(not first_chunk.wait(DEADLOCK_GUARD_S))

    hooks.append(engine._tts.model.talker.register_forward_pre_hook(hold_generation))
    stream = engine.synthesize(SynthesisRequest(text=TEXT))
    first = next(stream)
    steps_at_first_chunk = len(steps)
    first_chunk.set()
    rest = list(stream)

    assert first.size > 0 and rest
    assert waited_in_vain in ([], [False])
    assert steps_at_first_chunk < CAP  # the talker had not finished its steps yet
    assert len(steps) == CAP  # prefill + CAP-1 decode steps


def test_closing_the_stream_early_stops_generation(engine: QwenEngine, hooks: list[Any]) -> None:
    engine.streaming = True
    steps = talker_steps(engine, hooks)
    closing = threading.Event()

    def hold_until_closing(*_args: Any) -> None:
        if len(steps) >= 10:  # keep generation from finishing before the close
            closing.wait(DEADLOCK_GUARD_S)

    hooks.append(engine._tts.model.talker.register_forward_pre_hook(hold_until_closing))
    stream = engine.synthesize(SynthesisRequest(text=TEXT))
    assert next(stream).size > 0
    closing.set()
    stream.close()  # barge-in: nobody will hear the rest

    stopped_at = len(steps)
    assert stopped_at < CAP
    assert len(engine._tts.model.talker._forward_hooks) == 1  # only the test's own hook
    assert not any(t.name == "qwen-stream" for t in threading.enumerate())
    hooks.pop().remove()
    # The engine is immediately usable again.
    assert sum(c.size for c in engine.synthesize(SynthesisRequest(text="Again."))) == (
        (CAP - 1) * SAMPLES_PER_FRAME
    )


def test_a_failure_during_streaming_is_an_engine_error(
    engine: QwenEngine, hooks: list[Any]
) -> None:
    engine.streaming = True
    calls: list[int] = []

    def fail_on_fifth_step(*_args: Any) -> None:
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("CUDA out of memory")

    hooks.append(engine._tts.model.talker.register_forward_pre_hook(fail_on_fifth_step))
    chunks: list[np.ndarray] = []
    with pytest.raises(EngineError, match="out of memory"):
        for chunk in engine.synthesize(SynthesisRequest(text=TEXT)):
            chunks.append(chunk)
    assert sum(c.size for c in chunks) <= 4 * SAMPLES_PER_FRAME
    assert len(engine._tts.model.talker._forward_hooks) == 0  # the engine's hook is gone


def test_streaming_validates_before_starting(engine: QwenEngine) -> None:
    engine.streaming = True
    with pytest.raises(InvalidRequest) as info:
        engine.synthesize(SynthesisRequest(text=TEXT, voice="nobody"))
    assert info.value.field == "voice"
    assert not any(t.name == "qwen-stream" for t in threading.enumerate())


def test_bad_stream_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="stream_chunk_frames"):
        QwenEngine(streaming=True, stream_chunk_frames=0)
