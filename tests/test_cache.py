"""AudioCache bounds: entries, bytes, LRU order, and 0 disables it."""

from __future__ import annotations

import numpy as np

from tts_core.cache import AudioCache, CacheKey


def key(text: str, **kw) -> CacheKey:
    base = {"engine": "piper", "voice": "joe", "language": "en", "speed": 1.0}
    base.update(kw)
    return CacheKey(text=text, **base)


def pcm(n: int, value: int = 1) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


def test_lru_by_entries() -> None:
    cache = AudioCache(max_entries=2)
    cache.put(key("a"), pcm(10, 1))
    cache.put(key("b"), pcm(10, 2))
    assert cache.get(key("a")) is not None  # a is now most recent
    cache.put(key("c"), pcm(10, 3))
    assert cache.get(key("b")) is None
    assert cache.get(key("a"))[0] == 1 and cache.get(key("c"))[0] == 3
    assert len(cache) == 2


def test_bounded_by_bytes() -> None:
    cache = AudioCache(max_entries=100, max_bytes=1000)
    for i in range(10):
        cache.put(key(str(i)), pcm(200))  # 400 bytes each
    assert cache.size_bytes <= 1000 and len(cache) == 2
    cache.put(key("huge"), pcm(10_000))  # larger than the whole cache: not stored
    assert cache.get(key("huge")) is None and len(cache) == 2


def test_every_key_field_matters() -> None:
    cache = AudioCache(8)
    cache.put(key("hello"), pcm(4, 7))
    for variant in (
        key("hello", engine="qwen"),
        key("hello", voice="ryan"),
        key("hello", language="de"),
        key("hello", speed=1.25),
        key("hello "),
    ):
        assert cache.get(variant) is None
    assert cache.get(key("hello"))[0] == 7


def test_zero_disables_and_stored_audio_is_immutable() -> None:
    off = AudioCache(0)
    off.put(key("a"), pcm(4))
    assert off.get(key("a")) is None and len(off) == 0
    on = AudioCache(4)
    source = pcm(4, 5)
    on.put(key("a"), source)
    source[:] = 0  # the caller's buffer changing later must not change the cache
    got = on.get(key("a"))
    assert got[0] == 5 and not got.flags.writeable
