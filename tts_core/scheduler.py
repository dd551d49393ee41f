"""Who gets the engine next: fair between tenants, earliest playout deadline within one.

A plain semaphore wakes waiters in arrival order, so a caller whose listener
hears silence right now can sit behind another session's fourth sentence that
is not due for seconds, and a tenant that opens thirty sessions takes thirty
turns for every one of a tenant with one caller. Here the semaphore is still
the only way in, but a freed slot is handed on in two steps:

1. Between tenants (API keys), start-time fair queuing: each tenant carries a
   virtual finish time that grows by the cost of every request it is granted
   (its sentence's estimated length, divided by the tenant's weight). The
   waiting tenant with the smallest start tag goes next, so engine time is
   shared in proportion to the weights whatever the number of sessions behind
   each key, and a tenant that was idle cannot bank credit: it starts at the
   current virtual time.
2. Within the chosen tenant, earliest deadline first: the session whose
   listener runs out of audio soonest.

With a single tenant (no API keys) this is exactly EDF. `fifo=True` keeps
arrival order for everyone, for comparison in the benchmark.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

_Waiter = tuple[float, int, asyncio.Future[None]]


class DeadlineScheduler:
    """An `asyncio.Semaphore` whose waiters are served fairly by tenant, then by deadline."""

    def __init__(
        self,
        slots: int = 1,
        *,
        fifo: bool = False,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError("a scheduler needs at least one slot")
        self.slots = slots
        self._semaphore = asyncio.Semaphore(slots)
        self._queues: dict[str, list[_Waiter]] = {}
        self._order = itertools.count()
        self._finish: dict[str, float] = {}  # virtual finish time per tenant
        self._costs: dict[asyncio.Future[None], float] = {}
        self._virtual_now = 0.0
        self._weights = dict(weights or {})
        self._held = 0
        self.fifo = fifo
        self.granted: dict[str, int] = {}  # per tenant, for metrics and tests

    # -- state ---------------------------------------------------------------

    @property
    def waiting(self) -> int:
        return sum(self.waiting_for(t) for t in self._queues)

    def waiting_for(self, tenant: str) -> int:
        return sum(1 for *_, fut in self._queues.get(tenant, ()) if not fut.done())

    @property
    def busy(self) -> bool:
        return self._semaphore.locked()

    @property
    def in_use(self) -> int:
        """Slots held right now (0..slots)."""
        return self._held

    # -- fairness --------------------------------------------------------------

    def _start_tag(self, tenant: str) -> float:
        return max(self._finish.get(tenant, 0.0), self._virtual_now)

    def _charge(self, tenant: str, cost: float) -> None:
        start = self._start_tag(tenant)
        self._virtual_now = start
        self._finish[tenant] = start + max(cost, 1e-9) / self._weights.get(tenant, 1.0)
        self.granted[tenant] = self.granted.get(tenant, 0) + 1
        if len(self._finish) > 4096:
            # Tenants at or behind the virtual clock carry no state worth keeping.
            self._finish = {t: f for t, f in self._finish.items() if f > self._virtual_now}

    def _next_tenant(self) -> str | None:
        best: tuple[float, float, int] | None = None
        chosen = None
        for tenant, queue in self._queues.items():
            while queue and queue[0][2].done():
                heapq.heappop(queue)  # cancelled waiters, dropped lazily
            if not queue:
                continue
            key, seq, _ = queue[0]
            rank = (float(seq), 0.0, seq) if self.fifo else (self._start_tag(tenant), key, seq)
            if best is None or rank < best:
                best, chosen = rank, tenant
        self._queues = {t: q for t, q in self._queues.items() if q}
        return chosen

    # -- acquire / release -------------------------------------------------------

    async def acquire(self, deadline: float, tenant: str = "", cost: float = 1.0) -> None:
        """Wait for a slot; `cost` is the request's estimated engine time, in any unit."""
        if not self._semaphore.locked() and not self.waiting:
            await self._semaphore.acquire()
            self._held += 1
            self._charge(tenant, cost)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        seq = next(self._order)
        key = float(seq) if self.fifo else deadline
        heapq.heappush(self._queues.setdefault(tenant, []), (key, seq, fut))
        self._costs[fut] = cost
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # The slot was handed over as we were cancelled: pass it on.
                self.release()
            raise
        finally:
            self._costs.pop(fut, None)

    def release(self) -> None:
        """Hand the held slot to the next waiter (fair tenant, then deadline), or free it."""
        while (tenant := self._next_tenant()) is not None:
            _, _, fut = heapq.heappop(self._queues[tenant])
            if not fut.done():
                self._charge(tenant, self._costs.get(fut, 1.0))
                fut.set_result(None)
                return
        self._held -= 1
        self._semaphore.release()

    @asynccontextmanager
    async def slot(
        self, deadline: float, tenant: str = "", cost: float = 1.0
    ) -> AsyncIterator[None]:
        await self.acquire(deadline, tenant, cost)
        try:
            yield
        finally:
            self.release()
