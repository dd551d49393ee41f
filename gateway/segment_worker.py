"""Where sentence segmentation runs: on the event loop when cheap, on one worker when not.

pysbd costs a fraction of a millisecond per call and the segmenter's own scan
is pure Python, so a large message (a 64 KB paragraph, a greeting, a hostile
`"Dr. " * 16000`) takes tens of milliseconds even with the segmenter's bounds,
and on the event loop that is a hole in every call's audio. Pieces an LLM
streams (a few characters, at most a couple of sentence ends) are segmented
in place, because a thread hop would cost more than the work; anything bigger
goes to one dedicated thread. Jobs are taken round-robin between tenants, so a
tenant flooding large messages delays its own sessions, not another tenant's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .segmenter import count_triggers

T = TypeVar("T")

INLINE_MAX_CHARS = 256
INLINE_MAX_TRIGGERS = 2


def cheap(text: str) -> bool:
    """Whether segmenting `text` is safely under a millisecond or two on the loop."""
    return len(text) <= INLINE_MAX_CHARS and count_triggers(text) <= INLINE_MAX_TRIGGERS


class SegmentationWorker:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="voxgate-segment")
        self._queues: dict[str, deque[tuple[Callable[[], Any], asyncio.Future[Any]]]] = {}
        self._turns: deque[str] = deque()
        self._busy = False
        self.offloaded = 0  # jobs run off the loop, for tests and metrics

    async def run(self, tenant: str, text: str, job: Callable[[], T]) -> T:
        """Run `job` (which segments `text`) where it belongs; return its result."""
        if cheap(text):
            return job()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if tenant not in self._queues:
            self._queues[tenant] = deque()
            self._turns.append(tenant)
        self._queues[tenant].append((job, future))
        self._next()
        return await future

    def _next(self) -> None:
        while not self._busy and self._turns:
            tenant = self._turns.popleft()
            queue = self._queues[tenant]
            job, future = queue.popleft()
            if queue:
                self._turns.append(tenant)  # back of the line: one job per turn
            else:
                del self._queues[tenant]
            if future.done():  # its session went away while it waited
                continue
            self._busy = True
            self.offloaded += 1
            done = asyncio.get_running_loop().run_in_executor(self._executor, job)
            done.add_done_callback(lambda d, f=future: self._finished(d, f))

    def _finished(self, done: asyncio.Future[Any], future: asyncio.Future[Any]) -> None:
        self._busy = False
        if done.cancelled():
            future.cancel()
        elif not future.done():
            if done.exception() is not None:
                future.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                future.set_result(done.result())
        else:
            with contextlib.suppress(BaseException):
                done.exception()  # consumed, so asyncio does not log it as lost
        self._next()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
