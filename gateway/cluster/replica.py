"""This replica's part in the cluster: claim, publish and refresh its calls; learn the others'.

One writer task does every write to Redis in order: the `call_started` and
`call_ended` of this replica's calls (into its call list and onto the channel,
releasing an ended call's keys) and, every third of the TTL, the heartbeat:
the replica's own key, its whole call list rewritten, every live claim
refreshed (re-set if Redis lost it) and the other replicas' lists read back
(`gateway.cluster.others`), so calls whose replica stopped beating vanish
here within the TTL. One listener task hears the other replicas' events on
the channel and passes them on to this replica's `/v1/calls` subscribers at
once.

Redis being unreachable never costs a caller anything: calls go on, new
calls are registered locally (claimed as new once Redis answers again, see
`gateway.cluster.directory`), and everything is re-published by the first
heartbeat that succeeds; only attaches to other replicas' calls fail
meanwhile (`cluster_unavailable`). The Redis URL (it may hold a password) and
the cluster secret are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..calls import Call
from ..config import Settings
from ..metrics import Metrics
from .directory import Claim, ClusterUnavailable, Directory, Owner
from .others import OtherReplicas
from .signing import BridgeVerifier, sign

log = logging.getLogger("gateway.cluster")

REDIS_ERRORS = (RedisError, OSError, TimeoutError)
CLAIM_TIMEOUT_S = 1.0  # a call is never held up longer than this by the directory
LOCATE_TIMEOUT_S = 1.0
MAX_QUEUE = 10_000
JOIN_TIMEOUT_S = 3.0


@dataclass
class _Held:
    """A local call and its claim, until its end is published."""

    call: Call
    claim: Claim
    event: str = ""  # its call_started, as published


class Cluster:
    """See the module docstring. `start()` in the app's lifespan, `aclose()` at its end."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        draining: Callable[[], bool],
        on_remote_event: Callable[[dict[str, Any]], None],
        lose_call: Callable[[Call], Awaitable[None]],
    ) -> None:
        self.replica = secrets.token_hex(6)
        self.address = settings.advertised_address
        self.ttl_ms = int(settings.cluster_ttl_s * 1000)
        self.beat_s = settings.cluster_ttl_s / 3
        self.metrics = metrics
        self._draining = draining  # the gateway's own flag, told to the others in each beat
        self._secret = settings.cluster_secret
        self.verifier = BridgeVerifier(settings.cluster_secret)
        self._lose_call = lose_call
        self._client = aioredis.Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            health_check_interval=max(1, int(self.beat_s)),
            retry=Retry(NoBackoff(), 1),  # one retry: a pooled connection Redis closed
        )
        self.directory = Directory(
            self._client, settings.cluster_prefix, self.replica, self.address
        )
        self._held: dict[int, _Held] = {}
        self._queue: asyncio.Queue[tuple[str, _Held, str]] = asyncio.Queue(MAX_QUEUE)
        self._pending: list[tuple[str, _Held, str]] = []  # ends to publish once Redis is back
        self.others = OtherReplicas(self.replica, metrics, on_remote_event)
        self._tasks: list[asyncio.Task[None]] = []
        self._losing: set[asyncio.Task[None]] = set()
        self.up = False
        self._ever_up = False
        self.subscribed = asyncio.Event()
        self._beaten = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._writer(), name="voxgate-cluster-writer"),
            asyncio.create_task(self._listener(), name="voxgate-cluster-listener"),
        ]
        log.info("cluster replica started", extra={"replica": self.replica})

    async def joined(self, timeout_s: float = JOIN_TIMEOUT_S) -> bool:
        """Wait (bounded) for the first heartbeat and the subscription: then this replica's
        calls are visible to the others and theirs to it. False if Redis did not answer."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._beaten.wait()
                await self.subscribed.wait()
                return True
        log.warning("cluster Redis did not answer at start; serving, and retrying")
        return False

    async def aclose(self) -> None:
        """Publish what is queued (bounded), leave the directory, close the client."""
        if self.up:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(3):
                    await self._queue.join()
        for task in [*self._tasks, *self._losing]:
            task.cancel()
        for task in [*self._tasks, *self._losing]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(*REDIS_ERRORS):
            async with asyncio.timeout(2):
                for held in list(self._held.values()):
                    await self.directory.release(held.claim)
                await self.directory.leave()
        with contextlib.suppress(*REDIS_ERRORS):
            await self._client.aclose()
        log.info("cluster replica left", extra={"replica": self.replica})

    def _set_up(self, up: bool, error: BaseException | None = None) -> None:
        if up and not self.up:
            verb = (
                "reachable again; this replica's calls are re-published"
                if self._ever_up
                else ("connected")
            )
            log.info("cluster Redis %s", verb, extra={"replica": self.replica})
            self._ever_up = True
        elif not up and self.up:
            # The error's type only: its text can carry the URL, and the URL a password.
            log.warning(
                "cluster Redis unreachable (%s); calls go on, attaches to other replicas wait",
                type(error).__name__,
                extra={"replica": self.replica},
            )
        self.up = up
        self.metrics.redis_up.set(int(up))

    # -- this replica's calls -----------------------------------------------------------

    async def claim(self, call: Call) -> bool:
        """Claim the call's ids and aliases for this replica: False when another call holds one.

        True also when Redis cannot answer in time: the caller is not refused for
        that; the claim is made (as a new one) by the first heartbeat that works.
        """
        keys = self.directory.keys_of(call.carrier_ids, call.aliases)
        claim = Claim(secrets.token_hex(8), call.id, keys)
        try:
            async with asyncio.timeout(CLAIM_TIMEOUT_S):
                taken = await self.directory.claim(claim, self.ttl_ms)
        except REDIS_ERRORS as exc:
            self._set_up(False, exc)
            log.warning(
                "call registered without the cluster's confirmation (Redis unreachable)",
                extra={"call": call.id, "replica": self.replica},
            )
            taken = 0
        else:
            self._set_up(True)
        if taken:
            log.warning(
                "call refused: one of its ids or aliases is held on another replica",
                extra={"call": call.id[:64], "replica": self.replica},
            )
            return False
        self._held[id(call)] = _Held(call, claim)
        return True

    async def unclaim(self, call: Call) -> None:
        """Give back a claim for a call that was not registered after all."""
        held = self._held.pop(id(call), None)
        if held is not None:
            with contextlib.suppress(*REDIS_ERRORS):
                async with asyncio.timeout(CLAIM_TIMEOUT_S):
                    await self.directory.release(held.claim)

    def local_event(self, event: dict[str, Any], call: Call) -> None:
        """A call of this replica started or ended: queue it for the others (never blocks)."""
        held = self._held.get(id(call))
        if held is None:
            return
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        kind = event["type"]
        if kind == "call_started":
            held.event = body
        else:
            self._held.pop(id(call), None)
        try:
            self._queue.put_nowait((kind, held, body))
        except asyncio.QueueFull:
            if kind == "call_ended":
                self._pending.append((kind, held, body))

    async def _write(self, kind: str, held: _Held, body: str) -> None:
        if kind == "call_started":
            if not held.call.ended.is_set():
                await self.directory.started(held.call.id, body, self.ttl_ms)
            return
        await self.directory.release(held.claim)
        await self.directory.ended(held.call.id, body)

    async def _writer(self) -> None:
        next_beat = 0.0
        while True:
            wait = next_beat - time.monotonic()
            item = None
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        item = await self._queue.get()
            if item is None:
                next_beat = time.monotonic() + await self._step_beat()
                continue
            try:
                await self._step_write(item)
            finally:
                self._queue.task_done()

    async def _step_beat(self) -> float:
        """One heartbeat; the seconds until the next (sooner while Redis is away)."""
        try:
            await self._beat()
        except REDIS_ERRORS as exc:
            self._set_up(False, exc)
            return min(self.beat_s, 1.0)
        except Exception:
            log.exception("cluster heartbeat failed; retrying")
            return self.beat_s
        self._set_up(True)
        self._beaten.set()
        return self.beat_s

    async def _step_write(self, item: tuple[str, _Held, str]) -> None:
        if not self.up:  # an end waits for Redis; a start is re-published by the heartbeat
            if item[0] == "call_ended":
                self._pending.append(item)
            return
        try:
            await self._write(*item)
        except REDIS_ERRORS as exc:
            self._set_up(False, exc)
            if item[0] == "call_ended":
                self._pending.append(item)
        except Exception:
            log.exception("cluster event could not be published")

    async def _beat(self) -> None:
        held = [h for h in self._held.values() if not h.call.ended.is_set()]
        calls = {h.call.id: h.event for h in held if h.event}
        if not await self.directory.beat(self.ttl_ms, calls, self._draining()):
            # A first beat, or Redis lost its data: the others re-publish within their next
            # beats, so for a TTL a call missing from Redis is not taken for an ended one.
            self.others.settle_until(time.monotonic() + self.ttl_ms / 1000)
        results = await self.directory.refresh([h.claim for h in held], self.ttl_ms)
        for h, taken in zip(held, results, strict=True):
            if taken:
                log.warning(
                    "call lost one of its ids to an older call on another replica; ending it",
                    extra={"call": h.call.id, "replica": self.replica},
                )
                task = asyncio.create_task(self._lose_call(h.call))
                self._losing.add(task)
                task.add_done_callback(self._losing.discard)
        pending, self._pending = self._pending, []
        for index, item in enumerate(pending):
            try:
                await self._write(*item)
            except REDIS_ERRORS:
                self._pending.extend(pending[index:])
                raise
        read_at = time.monotonic()
        self.others.resync(await self.directory.others(), read_at)

    # -- the other replicas' calls ------------------------------------------------------

    def remote_events(self) -> list[dict[str, Any]]:
        """`call_started` of every call the other replicas hold, as last heard."""
        return self.others.events()

    async def _listener(self) -> None:
        backoff = 0.2
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self.directory.channel)
                self.subscribed.set()
                backoff = 0.2
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self.others.heard(message["data"])
            except REDIS_ERRORS:
                self.subscribed.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                with contextlib.suppress(*REDIS_ERRORS):
                    await pubsub.aclose()

    # -- where a call lives -------------------------------------------------------------

    def sign(self, target: str, tenant: str) -> dict[str, str]:
        """Headers that let the owner of a call trust a bridge request for `target`."""
        return sign(self._secret, target, tenant, self.replica)

    async def locate(self, *, call_id: str = "", alias: str = "") -> Owner | None:
        """The replica holding this call, or None (raises `ClusterUnavailable` without Redis)."""
        key = self.directory.id_key(call_id) if call_id else self.directory.alias_key(alias)
        try:
            async with asyncio.timeout(LOCATE_TIMEOUT_S):
                owner = await self.directory.locate(key)
        except REDIS_ERRORS as exc:
            self._set_up(False, exc)
            raise ClusterUnavailable from exc
        if owner is None or owner.replica == self.replica:
            return None
        return owner
