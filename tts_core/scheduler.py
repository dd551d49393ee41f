"""Who gets the inference thread next: earliest playout deadline first.

A plain semaphore wakes waiters in arrival order, so a caller whose listener
hears silence right now can sit behind another session's fourth sentence that
is not due for seconds. Here the semaphore is still the only way in, but when
it is released the slot is handed straight to the waiter whose listener runs
out of audio soonest. `fifo=True` keeps arrival order, for comparison in the
benchmark.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class DeadlineScheduler:
    """An `asyncio.Semaphore` whose waiters are served by deadline."""

    def __init__(self, slots: int = 1, *, fifo: bool = False) -> None:
        self._semaphore = asyncio.Semaphore(slots)
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self.fifo = fifo

    @property
    def waiting(self) -> int:
        return sum(1 for *_, fut in self._waiters if not fut.done())

    @property
    def busy(self) -> bool:
        return self._semaphore.locked()

    async def acquire(self, deadline: float) -> None:
        if not self._semaphore.locked() and not self.waiting:
            await self._semaphore.acquire()
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        seq = next(self._order)
        heapq.heappush(self._waiters, (float(seq) if self.fifo else deadline, seq, fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # The slot was handed over as we were cancelled: pass it on.
                self.release()
            raise

    def release(self) -> None:
        """Hand the held slot to the most urgent live waiter, or free it."""
        while self._waiters:
            *_, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        self._semaphore.release()

    @asynccontextmanager
    async def slot(self, deadline: float) -> AsyncIterator[None]:
        await self.acquire(deadline)
        try:
            yield
        finally:
            self.release()
