"""Driving the batched Qwen runtime by hand in tests: submit, step, and collect.

A `Recorder` wraps a loaded engine's runtime so that every request's frames are
kept when it ends (read from its slot before the slot can be reused) and every
item its sink receives is kept in order, with the step at which it arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tts_core.engine import StreamEnd
from tts_core.qwen import QwenEngine


@dataclass
class Received:
    chunks: list[np.ndarray] = field(default_factory=list)
    chunk_steps: list[int] = field(default_factory=list)
    end: StreamEnd | None = None
    error: BaseException | None = None

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)


class Recorder:
    def __init__(self, engine: QwenEngine) -> None:
        self.engine = engine
        self.runtime = engine._runtime
        self.codes: dict[Any, Any] = {}
        self.received: dict[Any, Received] = {}
        self.steps = 0
        runtime = self.runtime
        # Wrap the runtime's own method, not an earlier recorder's wrapper (whose
        # dictionaries would keep every request's frames alive).
        real_end = runtime.__dict__.setdefault("_real_end", runtime._end)

        def end(seq: Any, reason: str) -> None:
            if seq.slot >= 0 and hasattr(seq, "tag"):  # not the engine's own requests
                self.codes[seq.tag] = runtime.cache.codes[seq.slot, : seq.produced].clone()
            real_end(seq, reason)

        runtime._end = end

    def submit(self, tag: Any, text: str, *, budget: int, seed: int = 0,
               speaker: str = "ryan", language: str = "english",
               clone: Any = None) -> Any:  # fmt: skip
        got = self.received[tag] = Received()

        def sink(item: object) -> None:
            if isinstance(item, StreamEnd):
                got.end = item
            elif isinstance(item, BaseException):
                got.error = item
            else:
                got.chunks.append(item)  # type: ignore[arg-type]
                got.chunk_steps.append(self.steps)

        seq = self.runtime.submit(
            text, speaker, language, budget_tokens=budget, seed=seed, sink=sink, clone=clone
        )
        seq.tag = tag
        return seq

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.steps += 1
            self.runtime.step()

    def run(self) -> None:
        while self.runtime.has_work():
            self.step()


TEXTS = [
    "Your order shipped this morning.",
    "Please hold while I transfer your call.",
    "The next available agent will be with you shortly.",
    "Press one for billing, or two for support.",
    "Thank you for calling, goodbye.",
    "Your appointment is confirmed for Thursday.",
    "I can help you with that right away.",
    "Is there anything else I can do for you today?",
]
