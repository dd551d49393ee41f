"""Audio output cache: finished sentences keyed by what makes them sound the same.

IVR phrases ("Please hold while I transfer your call.") repeat on every call;
a hit replays the stored PCM and never touches the engine or its thread.
Bounded by entry count and by bytes so a burst of long unique sentences cannot
grow memory without limit.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CacheKey:
    engine: str
    voice: str
    language: str
    speed: float
    text: str

    def digest(self) -> str:
        raw = "\x1f".join((self.engine, self.voice, self.language, f"{self.speed:.4f}", self.text))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class AudioCache:
    """LRU of int16 PCM. `max_entries == 0` disables it entirely."""

    def __init__(self, max_entries: int = 256, max_bytes: int = 64 * 1024 * 1024) -> None:
        if max_entries < 0 or max_bytes < 0:
            raise ValueError("cache bounds must be >= 0")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: CacheKey) -> np.ndarray | None:
        if not self.enabled:
            return None
        digest = key.digest()
        pcm = self._items.get(digest)
        if pcm is None:
            self.misses += 1
            return None
        self._items.move_to_end(digest)
        self.hits += 1
        return pcm

    def put(self, key: CacheKey, pcm: np.ndarray) -> None:
        if not self.enabled or pcm.nbytes > self.max_bytes:
            return
        digest = key.digest()
        old = self._items.pop(digest, None)
        if old is not None:
            self._bytes -= old.nbytes
        stored = np.array(pcm, dtype=np.int16, copy=True)
        stored.setflags(write=False)
        self._items[digest] = stored
        self._bytes += stored.nbytes
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self._bytes -= evicted.nbytes

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
