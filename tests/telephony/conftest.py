"""Shared fixtures for the telephony tests: a manual clock and virtual asyncio time."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable
from typing import TypeVar

import pytest

T = TypeVar("T")


class ManualClock:
    """A monotonic clock that only moves when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class VirtualTime:
    """Deterministic time for asyncio code that takes injected `clock` and `sleep`.

    Sleepers are woken in deadline order and the clock jumps straight to each
    deadline, so a 10-second call runs in milliseconds and timings are exact.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._heap, (self.now + seconds, self._seq, fut))
        await fut

    @staticmethod
    async def settle() -> None:
        """Let every runnable task run until all are blocked."""
        for _ in range(50):
            await asyncio.sleep(0)

    def _wake_next(self) -> None:
        t, _, fut = heapq.heappop(self._heap)
        self.now = max(self.now, t)
        if not fut.done():
            fut.set_result(None)

    async def advance(self, seconds: float) -> None:
        """Run the world for `seconds` of virtual time."""
        end = self.now + seconds
        await self.settle()
        while self._heap and self._heap[0][0] <= end + 1e-12:
            self._wake_next()
            await self.settle()
        self.now = end
        await self.settle()

    def jump(self, seconds: float) -> None:
        """Time passes while the event loop is blocked (nobody runs)."""
        self.now += seconds

    async def drive(self, aw: Awaitable[T], limit: float = 600.0) -> T:
        """Run `aw` to completion in virtual time."""
        task = asyncio.ensure_future(aw)
        end = self.now + limit
        await self.settle()
        while not task.done():
            if not self._heap:
                task.cancel()
                raise AssertionError("deadlock: task blocked with no sleeper to wake")
            if self._heap[0][0] > end:
                task.cancel()
                raise AssertionError("virtual time limit exceeded")
            self._wake_next()
            await self.settle()
        return task.result()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()
