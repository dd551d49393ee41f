"""Slots: a barge-in frees one at the next step, it is reused, memory never grows.

The runtime preallocates everything, so a day of calls must not move its
footprint: 1,000 requests (some cancelled mid-sentence) leave the same number of
live tensors and the same process memory as the first hundred did.
"""

from __future__ import annotations

import gc
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.qwen.runtime_support import TEXTS, Recorder
from tts_core.engine import EngineError
from tts_core.qwen import QwenEngine
from tts_core.qwen.runtime import RequestTooLong


@pytest.fixture(scope="module")
def engine(tiny_qwen_dir: Path) -> Iterator[QwenEngine]:
    engine = QwenEngine(str(tiny_qwen_dir), device="cpu", slots=4, max_len=256, seed=3)
    engine.load()
    yield engine
    engine.unload()


def test_a_cancelled_request_frees_its_slot_at_the_next_step(engine: QwenEngine) -> None:
    rec = Recorder(engine)
    runtime = rec.runtime
    seqs = [rec.submit(i, TEXTS[i], budget=60) for i in range(3)]
    rec.step(4)
    assert [s.slot for s in seqs] == [0, 1, 2] and runtime.cache.free_slots == 1
    produced = seqs[1].produced
    runtime.cancel(seqs[1])
    rec.step()
    assert rec.received[1].end is not None and rec.received[1].end.reason == "cancelled"
    assert seqs[1].produced == produced  # it did not run another step
    assert runtime.cache.free_slots == 2 and 1 not in runtime.scheduler.running
    # The freed slot is the lowest free one: the next request takes it.
    late = rec.submit("late", TEXTS[3], budget=10)
    rec.step()
    assert late.slot == 1
    rec.run()
    assert rec.received["late"].end.reason == "budget"
    assert rec.received[0].end.reason == rec.received[2].end.reason == "budget"
    assert runtime.cache.free_slots == runtime.slots


def test_a_request_cancelled_before_it_starts_never_takes_a_slot(engine: QwenEngine) -> None:
    rec = Recorder(engine)
    seq = rec.submit("x", TEXTS[0], budget=20)
    rec.runtime.cancel(seq)
    rec.step()
    assert rec.received["x"].end.reason == "cancelled" and not rec.received["x"].chunks
    assert seq.slot == -1 and rec.runtime.stats.prefills >= 0
    assert not rec.runtime.has_work()


def test_more_requests_than_slots_wait_their_turn(engine: QwenEngine) -> None:
    """The speech core never admits more than `slots`; if it did, they would queue."""
    rec = Recorder(engine)
    seqs = [rec.submit(i, TEXTS[i], budget=6 + i) for i in range(6)]
    rec.step()
    assert sum(s.slot >= 0 for s in seqs) == 4 and len(rec.runtime.scheduler.waiting) == 2
    rec.run()
    assert all(rec.received[i].end.reason == "budget" for i in range(6))
    assert [len(rec.codes[i]) for i in range(6)] == [5 + i for i in range(6)]


def test_a_sentence_too_long_for_a_slot_is_refused_with_a_clear_error(engine: QwenEngine) -> None:
    runtime = engine._runtime
    with pytest.raises(RequestTooLong, match=r"slot length") as info:
        runtime.submit(TEXTS[0], "ryan", "english", budget_tokens=400, seed=0, sink=print)
    assert "256" in str(info.value) and isinstance(info.value, EngineError)
    assert not runtime.has_work()


def test_a_failed_step_fails_its_requests_and_the_runtime_goes_on(
    engine: QwenEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = Recorder(engine)
    for i in range(2):
        rec.submit(i, TEXTS[i], budget=20)

    def broken(_rows: int, _attend: int) -> None:
        raise RuntimeError("CUDA out of memory")

    with monkeypatch.context() as patch:
        patch.setattr(rec.runtime, "_decode", broken)
        rec.step()
    for i in range(2):
        assert isinstance(rec.received[i].error, EngineError)
        assert "out of memory" in str(rec.received[i].error)
    assert rec.runtime.cache.free_slots == rec.runtime.slots and not rec.runtime.has_work()
    rec.submit("after", TEXTS[2], budget=6)
    rec.run()
    assert rec.received["after"].end.reason == "budget" and rec.received["after"].chunks


def live_tensors() -> int:
    gc.collect()
    kinds = (torch.Tensor, torch.nn.Parameter)  # exact types: isinstance probes torch's modules
    return sum(1 for o in gc.get_objects() if type(o) in kinds)


def test_memory_stays_flat_over_1000_requests(engine: QwenEngine) -> None:
    rec = Recorder(engine)
    runtime = rec.runtime

    def wave(start: int, count: int) -> None:
        for n in range(start, start + count, 4):
            seqs = [rec.submit(n + k, TEXTS[k], budget=3 + k % 2) for k in range(4)]
            rec.step()
            runtime.cancel(seqs[n // 4 % 4])  # a barge-in in every wave
            rec.run()
            for k in range(4):
                del rec.received[n + k]
                rec.codes.pop(n + k, None)

    wave(0, 100)
    tensors, rss_kb = live_tensors(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wave(100, 900)
    assert live_tensors() <= tensors
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_kb) / 1024
    assert grown_mb < 8, f"peak RSS grew {grown_mb:.1f} MiB over 900 requests"
    stats = runtime.stats.snapshot()
    assert stats.requests >= 1000 and stats.cancelled >= 200
    assert runtime.cache.free_slots == runtime.slots and runtime.scheduler.idle
    assert runtime.cache.nbytes == sum(
        t.numel() * t.element_size()
        for t in [*runtime.cache.keys, *runtime.cache.values, *runtime.cache.p_keys,
                  *runtime.cache.p_values, runtime.cache.codes]
    )  # fmt: skip
