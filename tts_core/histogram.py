"""A fixed-bucket histogram an engine keeps on its own thread, read at scrape time.

`tts_core` knows nothing of Prometheus: engines count into these, and the
gateway turns snapshots into metric families (gateway/metrics.py).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

FIRST_AUDIO_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, count at or below it) pairs, Prometheus style, ending at +Inf."""
        out, running = [], 0
        for bound, n in zip(
            (*(str(float(b)) for b in self.buckets), "+Inf"), self.counts, strict=True
        ):
            running += n
            out.append((bound, running))
        return out

    def copy(self) -> Histogram:
        h = Histogram(self.buckets)
        h.counts, h.total, h.count = list(self.counts), self.total, self.count
        return h
