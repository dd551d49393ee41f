"""The CUDA-graph path's shapes, checked on the CPU.

A captured graph runs a fixed number of rows and attends over a fixed length,
so a step for 3 calls replays the 4-row graph over 256 positions. That is only
correct if spare rows and extra positions change nothing: here the runner is
driven at bucket sizes exactly as the graphs would drive it, and every request
must get the codes it gets from exact-size steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.qwen.runtime_support import TEXTS, Recorder
from tts_core.qwen import QwenEngine
from tts_core.qwen.graphs import GraphedDecode, buckets_for


@pytest.fixture(scope="module")
def engine(tiny_qwen_dir: Path) -> Iterator[QwenEngine]:
    engine = QwenEngine(str(tiny_qwen_dir), device="cpu", slots=12, max_len=600, seed=4)
    engine.load()
    yield engine
    engine.unload()


def test_buckets_cover_every_size_up_to_the_slots() -> None:
    assert buckets_for(12, (1, 2, 4, 8, 16, 32, 64)) == (1, 2, 4, 8, 12)
    assert buckets_for(64, (1, 2, 4, 8, 16, 32, 64)) == (1, 2, 4, 8, 16, 32, 64)
    graphs = GraphedDecode(torch, lambda r, a: None, slots=12, max_len=600)
    assert graphs.length_buckets == (256, 512, 600)
    assert graphs.bucket(3, 40) == (4, 256) and graphs.bucket(9, 257) == (12, 512)
    assert graphs.bucket(12, 600) == (12, 600)


def run(engine: QwenEngine, bucketed: bool) -> dict[int, torch.Tensor]:
    runtime = engine._runtime
    graphs = GraphedDecode(torch, runtime.runner.decode, slots=runtime.slots,
                           max_len=runtime.cache.max_len)  # fmt: skip
    if bucketed:  # what replaying the captured graphs does: run the bucket's shape
        runtime.use_decoder(
            lambda rows, attend: runtime.runner.decode(*graphs.bucket(rows, attend))
        )
    try:
        rec = Recorder(engine)
        for i in range(5):
            rec.submit(i, TEXTS[i], budget=[30, 9, 22, 30, 14][i], seed=i)
            rec.step(2)
        rec.run()
        return rec.codes
    finally:
        runtime.use_decoder(runtime.runner.decode)


def test_spare_rows_and_positions_change_nothing(engine: QwenEngine) -> None:
    exact, bucketed = run(engine, False), run(engine, True)
    for i in range(5):
        assert torch.equal(exact[i], bucketed[i]), f"request {i} differs at bucket sizes"
