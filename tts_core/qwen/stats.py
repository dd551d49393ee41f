"""What the batched runtime measures about itself, for `/metrics` and the benchmark.

Plain counters and fixed-bucket histograms behind one lock: the runtime's
thread writes them once per step, a scrape reads a snapshot. `tts_core` knows
nothing of Prometheus; the gateway turns a snapshot into metric families.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tts_core.histogram import FIRST_AUDIO_BUCKETS, Histogram

__all__ = ["FIRST_AUDIO_BUCKETS", "Histogram", "RuntimeStats"]

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
STEP_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0)
RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)


@dataclass
class RuntimeStats:
    slots: int = 0
    active: int = 0
    waiting: int = 0
    steps: int = 0
    frames: int = 0
    prefills: int = 0
    requests: int = 0
    cancelled: int = 0
    batch_size: Histogram = field(default_factory=lambda: Histogram(BATCH_BUCKETS))
    step_seconds: Histogram = field(default_factory=lambda: Histogram(STEP_BUCKETS))
    request_rtf: Histogram = field(default_factory=lambda: Histogram(RTF_BUCKETS))
    first_audio: Histogram = field(default_factory=lambda: Histogram(FIRST_AUDIO_BUCKETS))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def step(self, batch: int, seconds: float) -> None:
        with self._lock:
            self.steps += 1
            self.frames += batch
            self.batch_size.observe(batch)
            self.step_seconds.observe(seconds)

    def finished(self, rtf: float | None, cancelled: bool) -> None:
        with self._lock:
            self.requests += 1
            self.cancelled += int(cancelled)
            if rtf is not None:
                self.request_rtf.observe(rtf)

    def snapshot(self) -> RuntimeStats:
        with self._lock:
            return RuntimeStats(
                slots=self.slots, active=self.active, waiting=self.waiting, steps=self.steps,
                frames=self.frames, prefills=self.prefills, requests=self.requests,
                cancelled=self.cancelled, batch_size=self.batch_size.copy(),
                step_seconds=self.step_seconds.copy(), request_rtf=self.request_rtf.copy(),
                first_audio=self.first_audio.copy(),
            )  # fmt: skip
