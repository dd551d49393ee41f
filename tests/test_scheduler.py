"""DeadlineScheduler: fair between tenants, earliest deadline within a tenant."""

from __future__ import annotations

import asyncio

import pytest

from tts_core.scheduler import DeadlineScheduler


async def _serve(
    scheduler: DeadlineScheduler, requests: list[tuple[str, str, float, float]]
) -> list[str]:
    """Queue `requests` (name, tenant, deadline, cost) behind a held slot; return service order."""
    order: list[str] = []
    await scheduler.acquire(0.0, "holder")

    async def one(name: str, tenant: str, deadline: float, cost: float) -> None:
        await scheduler.acquire(deadline, tenant, cost)
        order.append(name)
        await asyncio.sleep(0)
        scheduler.release()

    tasks = []
    for request in requests:
        tasks.append(asyncio.create_task(one(*request)))
        await asyncio.sleep(0)  # arrival order is list order
    scheduler.release()
    await asyncio.gather(*tasks)
    return order


async def test_noisy_tenant_cannot_starve_a_quiet_one() -> None:
    # Thirty sentences from one tenant, all more urgent than the quiet tenant's one.
    noisy = [(f"n{i}", "noisy", float(i), 10.0) for i in range(30)]
    quiet = [("q0", "quiet", 100.0, 10.0)]
    order = await _serve(DeadlineScheduler(1), noisy + quiet)
    # EDF alone would serve q0 last (31st); fair sharing serves it second.
    assert order.index("q0") <= 1


async def test_within_a_tenant_earliest_deadline_first() -> None:
    requests = [("late", "t", 9.0, 1.0), ("soon", "t", 1.0, 1.0), ("mid", "t", 5.0, 1.0)]
    assert await _serve(DeadlineScheduler(1), requests) == ["soon", "mid", "late"]


async def test_single_tenant_is_plain_edf_and_fifo_mode_is_arrival_order() -> None:
    requests = [("a", "", 3.0, 1.0), ("b", "", 1.0, 1.0), ("c", "", 2.0, 1.0)]
    assert await _serve(DeadlineScheduler(1), requests) == ["b", "c", "a"]
    assert await _serve(DeadlineScheduler(1, fifo=True), requests) == ["a", "b", "c"]


async def test_engine_time_is_shared_by_cost_not_by_request_count() -> None:
    # Tenant A sends long sentences (cost 4), tenant B short ones (cost 1):
    # B gets about four turns for each of A's.
    a = [(f"a{i}", "A", 0.0, 4.0) for i in range(5)]
    b = [(f"b{i}", "B", 0.0, 1.0) for i in range(20)]
    order = await _serve(DeadlineScheduler(1), a + b)
    first_ten = order[:10]
    assert sum(name.startswith("b") for name in first_ten) >= 7


async def test_weights_give_a_tenant_a_larger_share() -> None:
    a = [(f"a{i}", "A", 0.0, 1.0) for i in range(20)]
    b = [(f"b{i}", "B", 0.0, 1.0) for i in range(20)]
    order = await _serve(DeadlineScheduler(1, weights={"A": 3.0}), a + b)
    first_twelve = order[:12]
    assert sum(name.startswith("a") for name in first_twelve) == pytest.approx(9, abs=1)


async def test_idle_tenant_cannot_bank_credit() -> None:
    scheduler = DeadlineScheduler(1)
    # Tenant A alone uses the engine for a long time...
    for _ in range(50):
        await scheduler.acquire(0.0, "A", 1.0)
        scheduler.release()
    # ...then B arrives: B does not get 50 turns in a row, they alternate.
    a = [(f"a{i}", "A", 0.0, 1.0) for i in range(6)]
    b = [(f"b{i}", "B", 0.0, 1.0) for i in range(6)]
    order = await _serve(scheduler, b + a)
    assert sum(name.startswith("a") for name in order[:6]) >= 2


async def test_cancelled_waiters_are_skipped_and_slots_counted() -> None:
    scheduler = DeadlineScheduler(2)
    await scheduler.acquire(0.0, "x")
    await scheduler.acquire(0.0, "y")
    assert scheduler.in_use == 2 and scheduler.busy
    doomed = asyncio.create_task(scheduler.acquire(0.0, "z"))
    kept = asyncio.create_task(scheduler.acquire(1.0, "z"))
    await asyncio.sleep(0)
    assert scheduler.waiting == 2 and scheduler.waiting_for("z") == 2
    doomed.cancel()
    await asyncio.sleep(0)
    scheduler.release()
    await kept
    assert scheduler.in_use == 2 and scheduler.waiting == 0
    scheduler.release()
    scheduler.release()
    assert scheduler.in_use == 0 and not scheduler.busy
    assert scheduler.granted == {"x": 1, "y": 1, "z": 1}
