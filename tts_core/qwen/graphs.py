"""CUDA graphs for the batched decode step, one per (batch bucket, attention bucket).

Why: one decode step of Qwen3-TTS is ~500 small kernels (28 talker layers, then
15 sub-steps of a 5-layer code predictor); launched one by one from Python the
GPU idles between them, which is why the stock package runs below real time on
an H100 (faster-qwen3-tts measured 0.59x, and 4.2x once captured). The runner's
step already reads and writes only fixed registers, so it is captured once per
shape and replayed: a step for 5 calls replays the 8-row graph (the 3 spare rows
run on harmless values), attending over the smallest captured length that
covers every row.

Everything is captured at load, before the first call, so no caller ever waits
for a capture; warm-up runs happen with every slot inactive, so they change
nothing a request will see. On a CPU there is nothing to capture and the runner
is called directly, with identical numerics.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


def buckets_for(limit: int, buckets: tuple[int, ...]) -> tuple[int, ...]:
    """The buckets up to `limit`, with `limit` itself last so every size is covered."""
    kept = sorted({b for b in buckets if b < limit} | {limit})
    return tuple(kept)


class GraphedDecode:
    """Replays captured decode steps; call it as `decode(rows, attend)`."""

    def __init__(
        self,
        torch: Any,
        decode: Callable[[int, int], None],
        *,
        slots: int,
        max_len: int,
        batch_buckets: tuple[int, ...] = DEFAULT_BATCH_BUCKETS,
        length_step: int = 256,
    ) -> None:
        self.torch = torch
        self._decode = decode
        self.batch_buckets = buckets_for(slots, batch_buckets)
        self.length_buckets = buckets_for(max_len, tuple(range(length_step, max_len, length_step)))
        self._graphs: dict[tuple[int, int], Any] = {}
        self._pool: Any = None

    def capture(self) -> int:
        """Capture every bucket pair; returns how many graphs were made."""
        torch = self.torch
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.inference_mode():
            # Largest first, so later captures fit in the memory the first one pooled.
            for rows in reversed(self.batch_buckets):
                for attend in reversed(self.length_buckets):
                    with torch.cuda.stream(stream):
                        for _ in range(2):  # warm-up: lazy inits, autotuning
                            self._decode(rows, attend)
                    torch.cuda.current_stream().wait_stream(stream)
                    graph = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(graph, pool=self._pool):
                        self._decode(rows, attend)
                    self._pool = graph.pool()
                    self._graphs[(rows, attend)] = graph
        torch.cuda.synchronize()
        log.info(
            "qwen decode step captured as %d CUDA graphs (batch %s x attend %s)",
            len(self._graphs), self.batch_buckets, self.length_buckets,
        )  # fmt: skip
        return len(self._graphs)

    def bucket(self, rows: int, attend: int) -> tuple[int, int]:
        b = self.batch_buckets[bisect.bisect_left(self.batch_buckets, rows)]
        a = self.length_buckets[bisect.bisect_left(self.length_buckets, attend)]
        return b, a

    def __call__(self, rows: int, attend: int) -> None:
        key = self.bucket(rows, attend)
        graph = self._graphs.get(key)
        if graph is None:  # not captured (capture failed or skipped): run it eagerly
            self._decode(*key)
            return
        graph.replay()
