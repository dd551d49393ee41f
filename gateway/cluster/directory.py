"""The replicas' shared call directory, in Redis: which replica holds which call id and alias.

Keys, under the prefix `P` (`VOXGATE_CLUSTER_PREFIX`), all but the set with the TTL
(`VOXGATE_CLUSTER_TTL_S`) that the owner's heartbeat refreshes:

- `P:id:<carrier id>`, `P:alias:<alias>`: the claim (replica, its address,
  claim token, call id, since);
- `P:replica:<replica>`: the replica's heartbeat and address;
- `P:replicas`: the set of replica ids (pruned by whoever finds a heartbeat gone);
- `P:calls:<replica>`: hash of call id → its `call_started`, so `/v1/calls` on
  any replica can list every call;
- channel `P:events`: `call_started` / `call_ended` as they happen, with the replica.

Ownership is decided here, atomically, by one Lua script (`CLAIM`) that
checks every key of a call before it sets any: a call's ids and aliases are
claimed all or none, and a key held by another live claim is never taken, so
two replicas can never both hold one id. The same script is the heartbeat's
refresh. Each claim records when Redis first granted it (Redis's own clock,
`since`, never a replica's, so clock skew between replicas cannot matter);
a claim presented again after Redis lost its data (a restart) keeps that
time, and where two live calls then present the same key, the older claim
keeps it and the younger call is told it lost (its replica ends it). A call
that registered while Redis was unreachable has no `since` yet and claims as
new when Redis is back, so it never takes a key from a call that had it first.
Releases delete only keys that still carry the releasing claim's token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the client library loads only where a Redis URL is configured
    import redis.asyncio as aioredis

# KEYS: the call's keys. ARGV: replica, address, token, call id, ttl ms, since ("" = now).
# Returns {0, since} when every key is now this claim's, or {i, 0}: KEYS[i] is another's.
CLAIM = """
local since = tonumber(ARGV[6])
if not since then
  local t = redis.call('TIME')
  since = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
for i, key in ipairs(KEYS) do
  local held = redis.call('GET', key)
  if held then
    local ok, other = pcall(cjson.decode, held)
    if ok and other.c ~= ARGV[3] and tonumber(other.s) <= since then
      return {i, 0}
    end
  end
end
local value = cjson.encode({r = ARGV[1], a = ARGV[2], c = ARGV[3], i = ARGV[4], s = since})
for _, key in ipairs(KEYS) do
  redis.call('SET', key, value, 'PX', ARGV[5])
end
return {0, since}
"""

# KEYS: the call's keys. ARGV: token. Deletes the keys still held by this claim.
RELEASE = """
local n = 0
for _, key in ipairs(KEYS) do
  local held = redis.call('GET', key)
  if held then
    local ok, other = pcall(cjson.decode, held)
    if ok and other.c == ARGV[1] then
      redis.call('DEL', key)
      n = n + 1
    end
  end
end
return n
"""


class ClusterUnavailable(Exception):
    """Redis did not answer: where a call lives cannot be known right now."""


@dataclass(frozen=True)
class Owner:
    """Where a call lives: the replica holding it, its bridge address, the call's own id."""

    replica: str
    address: str
    call: str


@dataclass
class Claim:
    """This replica's claim on one call's keys; `since` is None until Redis has granted it."""

    token: str
    call: str
    keys: list[str]
    since: int | None = None


class Directory:
    """The Redis operations behind the cluster (no policy: `gateway.cluster.replica` has it)."""

    def __init__(self, client: aioredis.Redis, prefix: str, replica: str, address: str) -> None:
        self.r = client
        self.prefix = prefix
        self.replica = replica
        self.address = address
        self.channel = f"{prefix}:events"
        self._claim = client.register_script(CLAIM)
        self._release = client.register_script(RELEASE)

    # -- keys -------------------------------------------------------------------------

    def id_key(self, call_id: str) -> str:
        return f"{self.prefix}:id:{call_id}"

    def alias_key(self, alias: str) -> str:
        return f"{self.prefix}:alias:{alias}"

    def keys_of(self, ids: set[str], aliases: set[str]) -> list[str]:
        return [self.id_key(i) for i in sorted(ids)] + [self.alias_key(a) for a in sorted(aliases)]

    def _replica_key(self, replica: str) -> str:
        return f"{self.prefix}:replica:{replica}"

    def _calls_key(self, replica: str) -> str:
        return f"{self.prefix}:calls:{replica}"

    @property
    def _replicas_key(self) -> str:
        return f"{self.prefix}:replicas"

    # -- claims -----------------------------------------------------------------------

    def _claim_args(self, claim: Claim, ttl_ms: int) -> list[Any]:
        since = "" if claim.since is None else str(claim.since)
        return [self.replica, self.address, claim.token, claim.call, ttl_ms, since]

    async def claim(self, claim: Claim, ttl_ms: int) -> int:
        """0 when every key is now `claim`'s (and `claim.since` set), else the 1-based key held."""
        taken, since = await self._claim(keys=claim.keys, args=self._claim_args(claim, ttl_ms))
        if int(taken) == 0:
            claim.since = int(since)
        return int(taken)

    async def refresh(self, claims: list[Claim], ttl_ms: int) -> list[int]:
        """`claim` for many calls in one round trip: the heartbeat's re-publication."""
        if not claims:
            return []
        pipe = self.r.pipeline(transaction=False)
        for claim in claims:
            await self._claim(keys=claim.keys, args=self._claim_args(claim, ttl_ms), client=pipe)
        results = await pipe.execute()
        out = []
        for claim, (taken, since) in zip(claims, results, strict=True):
            if int(taken) == 0:
                claim.since = int(since)
            out.append(int(taken))
        return out

    async def release(self, claim: Claim) -> None:
        await self._release(keys=claim.keys, args=[claim.token])

    async def locate(self, key: str) -> Owner | None:
        raw = await self.r.get(key)
        if raw is None:
            return None
        try:
            held = json.loads(raw)
            return Owner(str(held["r"]), str(held["a"]), str(held["i"]))
        except (ValueError, KeyError, TypeError):
            return None

    # -- replicas and their calls -------------------------------------------------------

    async def beat(self, ttl_ms: int, calls: dict[str, str], draining: bool) -> bool:
        """This replica is alive, at its address, holding `calls` (id → call_started JSON).

        Returns whether its previous heartbeat was still there: False at the first
        beat, and when Redis lost its data (or this replica was away past the TTL).
        """
        me = json.dumps({"a": self.address, "draining": draining})
        pipe = self.r.pipeline(transaction=True)
        pipe.set(self._replica_key(self.replica), me, px=ttl_ms, get=True)
        pipe.sadd(self._replicas_key, self.replica)
        pipe.delete(self._calls_key(self.replica))
        if calls:
            pipe.hset(self._calls_key(self.replica), mapping=calls)
            pipe.pexpire(self._calls_key(self.replica), ttl_ms)
        results = await pipe.execute()
        return results[0] is not None

    async def started(self, call_id: str, event: str, ttl_ms: int) -> None:
        """Announce a call: into this replica's list, and on the channel."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self._calls_key(self.replica), call_id, event)
        pipe.pexpire(self._calls_key(self.replica), ttl_ms)
        pipe.publish(self.channel, self._envelope(event))
        await pipe.execute()

    async def ended(self, call_id: str, event: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hdel(self._calls_key(self.replica), call_id)
        pipe.publish(self.channel, self._envelope(event))
        await pipe.execute()

    def _envelope(self, event: str) -> str:
        # `event` is JSON already (the one kept in the call list): spliced in, not re-encoded.
        return f'{{"r":{json.dumps(self.replica)},"e":{event}}}'

    async def others(self) -> dict[str, dict[str, str]]:
        """Every other live replica's calls (replica → call id → call_started JSON)."""
        members = sorted(await self.r.smembers(self._replicas_key))
        members = [m for m in members if m != self.replica]
        if not members:
            return {}
        pipe = self.r.pipeline(transaction=False)
        for m in members:
            pipe.exists(self._replica_key(m))
            pipe.hgetall(self._calls_key(m))
        results = await pipe.execute()
        live: dict[str, dict[str, str]] = {}
        gone = []
        for i, m in enumerate(members):
            if results[2 * i]:
                live[m] = results[2 * i + 1]
            else:
                gone.append(m)
        if gone:  # a heartbeat that expired: that replica is gone, with its calls
            await self.r.srem(self._replicas_key, *gone)
        return live

    async def leave(self) -> None:
        """This replica stops: its heartbeat and call list go at once, not after the TTL."""
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self._replica_key(self.replica), self._calls_key(self.replica))
        pipe.srem(self._replicas_key, self.replica)
        await pipe.execute()
