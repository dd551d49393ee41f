"""The directory's claims against a real redis-server: atomic, all or none, never stolen.

These are the rules every replica's calls rely on (`gateway.cluster.directory`),
checked on the Lua scripts themselves with several replicas' directories on one
Redis: a key held by a live claim is refused to any other; a call's keys are
claimed all or none; a release removes only the releaser's own keys; after
Redis lost its data the older claim keeps its keys; a claim lives a TTL.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from gateway.cluster.directory import Claim, Directory

TTL_MS = 5000


@pytest.fixture
async def client(redis_server) -> AsyncIterator[aioredis.Redis]:
    r = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield r
    await r.aclose()


def directory(client: aioredis.Redis, prefix: str, replica: str) -> Directory:
    return Directory(client, prefix, replica, f"http://{replica}.test:8080")


def claim_for(d: Directory, call: str, aliases: set[str] = frozenset()) -> Claim:
    return Claim(secrets.token_hex(8), call, d.keys_of({call}, set(aliases)))


async def test_a_held_key_is_refused_to_every_other_claim(client) -> None:
    prefix = "t" + secrets.token_hex(4)
    a, b = directory(client, prefix, "aaaaaaaaaaaa"), directory(client, prefix, "bbbbbbbbbbbb")
    first = claim_for(a, "CA1", {"order-1"})
    assert await a.claim(first, TTL_MS) == 0 and first.since is not None
    # The same id, or only the alias, from another replica: refused, and nothing of it is set.
    assert await b.claim(claim_for(b, "CA1"), TTL_MS) == 1
    stolen_alias = claim_for(b, "CA2", {"order-1"})
    assert await b.claim(stolen_alias, TTL_MS) == 2  # keys: id CA2, then alias order-1
    assert await b.locate(b.id_key("CA2")) is None  # all or none: CA2 was not claimed either
    owner = await b.locate(b.alias_key("order-1"))
    assert (owner.replica, owner.call, owner.address) == (a.replica, "CA1", a.address)
    # Its own claim refreshes; another's release removes nothing of it.
    assert await a.refresh([first], TTL_MS) == [0]
    await b.release(Claim("0" * 16, "CA1", first.keys))
    assert await b.locate(b.id_key("CA1")) is not None
    await a.release(first)
    assert await b.locate(b.id_key("CA1")) is None
    assert await b.claim(claim_for(b, "CA1", {"order-1"}), TTL_MS) == 0  # free again


async def test_concurrent_claims_on_one_id_have_exactly_one_winner(client) -> None:
    prefix = "t" + secrets.token_hex(4)
    ds = [directory(client, prefix, f"{i:012x}") for i in range(8)]
    results = await asyncio.gather(*(d.claim(claim_for(d, "CA-race"), TTL_MS) for d in ds))
    assert sorted(results) == [0] + [1] * 7


async def test_after_redis_lost_its_data_the_older_claim_keeps_its_keys(client) -> None:
    prefix = "t" + secrets.token_hex(4)
    a, b = directory(client, prefix, "aaaaaaaaaaaa"), directory(client, prefix, "bbbbbbbbbbbb")
    old = claim_for(a, "CA7")
    assert await a.claim(old, TTL_MS) == 0
    await asyncio.sleep(0.01)  # Redis's clock is in milliseconds; a tie keeps the holder
    await client.delete(*old.keys)  # what a restart without persistence does
    # A call registered meanwhile (no `since`: Redis never granted it) claims first...
    young = claim_for(b, "CA7")
    assert await b.claim(young, TTL_MS) == 0
    # ...and the older claim, presented again by its heartbeat, takes its key back;
    assert await a.refresh([old], TTL_MS) == [0]
    # the younger one learns at its next heartbeat that it lost (its replica ends it).
    assert await b.refresh([young], TTL_MS) == [1]
    assert (await b.locate(b.id_key("CA7"))).replica == a.replica


async def test_a_claim_lives_a_ttl_unless_refreshed(client) -> None:
    prefix = "t" + secrets.token_hex(4)
    a = directory(client, prefix, "aaaaaaaaaaaa")
    held = claim_for(a, "CA9")
    assert await a.claim(held, 300) == 0
    assert 0 < await client.pttl(held.keys[0]) <= 300
    await asyncio.sleep(0.4)
    assert await a.locate(a.id_key("CA9")) is None
