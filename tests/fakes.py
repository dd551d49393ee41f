"""Test doubles: an engine whose every step the test controls, and a settable clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from tts_core.engine import SynthesisRequest, Voice
from tts_core.sim_engine import SimulatedEngine


class ManualClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class GatedEngine:
    """Engine that blocks in `synthesize` until the test opens its gate.

    Records the order in which texts reached the engine thread, how often it
    loaded, and which thread ran it.
    """

    name = "gated"
    sample_rate = 8000

    def __init__(self, chunks: int = 1, chunk_samples: int = 160) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.chunks = chunks
        self.chunk_samples = chunk_samples
        self.calls: list[str] = []
        self.threads: set[str] = set()
        self.load_count = 0
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        self.threads.add(threading.current_thread().name)
        self.gate.wait(5)
        self.load_count += 1
        self._loaded = True

    def unload(self) -> None:
        self._loaded = False

    def voices(self) -> list[Voice]:
        return [Voice("v", ("en",), "en")]

    def default_voice(self) -> str:
        return "v"

    def synthesize(self, request: SynthesisRequest) -> Iterator[np.ndarray]:
        assert self._loaded, "synthesize called on an unloaded engine"
        self.threads.add(threading.current_thread().name)
        self.calls.append(request.text)
        self.entered.set()
        for i in range(self.chunks):
            self.gate.wait(5)
            yield np.full(self.chunk_samples, i + 1, dtype=np.int16)


class HeldSimEngine(SimulatedEngine):
    """The sim engine held at its first sentence until the test opens the gate.

    Nothing drains while it is closed, so what each session has queued is
    exactly what the gateway accepted: no race with the engine.
    """

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def synthesize(self, request: SynthesisRequest) -> Iterator[np.ndarray]:
        self.entered.set()
        self.gate.wait(30)
        return super().synthesize(request)
