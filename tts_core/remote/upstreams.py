"""The pool of speech servers a remote engine talks to: who is up, who has room.

Why a pool and not a list: an upstream that refuses connections or stalls must
stop receiving calls at once and be tried again later (exponential backoff, so
a dead host costs one probe per interval, not one failure per sentence), while
its requests go to the others; and each upstream takes a bounded number of
concurrent requests, so one slow host cannot absorb every call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from tts_core.histogram import FIRST_AUDIO_BUCKETS, Histogram


def display(url: str) -> str:
    """The URL without credentials (user:password@), for logs and metric labels."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass
class Upstream:
    base: str
    limit: int
    in_flight: int = 0
    failures: int = 0  # consecutive
    down_until: float = 0.0
    requests: int = 0
    errors: int = 0
    last_error: str = ""
    first_byte: Histogram = field(default_factory=lambda: Histogram(FIRST_AUDIO_BUCKETS))

    @property
    def label(self) -> str:
        return display(self.base)

    def up(self, now: float) -> bool:
        return self.down_until <= now


class NoUpstream(Exception):
    """Every upstream was tried for this request, or none can be reached."""


class UpstreamPool:
    def __init__(
        self,
        bases: list[str],
        limit: int,
        *,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not bases:
            raise ValueError("a remote engine needs at least one upstream URL")
        if limit < 1:
            raise ValueError("each upstream needs a concurrency of at least 1")
        self.upstreams = [Upstream(b.rstrip("/"), limit) for b in bases]
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self._clock = clock
        self._room: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._room is None:  # created in the loop that uses it
            self._room = asyncio.Condition()
        return self._room

    def _pick(self, tried: set[int]) -> Upstream | None:
        now = self._clock()
        fresh = [u for i, u in enumerate(self.upstreams) if i not in tried]
        if not fresh:
            raise NoUpstream("every upstream failed for this request")
        up = [u for u in fresh if u.up(now) and u.in_flight < u.limit]
        if up:
            return min(up, key=lambda u: (u.in_flight / u.limit, u.failures))
        if any(u.up(now) for u in fresh):
            return None  # healthy ones are full: wait for room
        # All down: probe the one that has waited longest (its backoff is nearly over).
        roomy = [u for u in fresh if u.in_flight < u.limit]
        return min(roomy, key=lambda u: u.down_until) if roomy else None

    async def acquire(self, tried: set[int]) -> tuple[int, Upstream]:
        room = self._condition()
        async with room:
            while (chosen := self._pick(tried)) is None:
                await room.wait()
            chosen.in_flight += 1
            chosen.requests += 1
            return self.upstreams.index(chosen), chosen

    async def release(self, upstream: Upstream) -> None:
        room = self._condition()
        async with room:
            upstream.in_flight -= 1
            room.notify_all()

    def failed(self, upstream: Upstream, reason: str) -> None:
        upstream.errors += 1
        upstream.failures += 1
        upstream.last_error = reason
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (upstream.failures - 1))
        upstream.down_until = self._clock() + delay

    def succeeded(self, upstream: Upstream, first_byte_s: float) -> None:
        upstream.failures = 0
        upstream.down_until = 0.0
        upstream.first_byte.observe(first_byte_s)

    def counted_error(self, upstream: Upstream, reason: str) -> None:
        """An error that is the request's, not the upstream's (a 4xx): counted only."""
        upstream.errors += 1
        upstream.last_error = reason

    def healthy(self) -> int:
        now = self._clock()
        return sum(1 for u in self.upstreams if u.up(now))
