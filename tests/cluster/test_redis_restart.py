"""Redis restarted mid-call: nothing crashes, no caller is refused, everything is re-published.

Its own Redis and replicas (the restart loses every key). While Redis is down
a bridged call goes on (the bridge runs replica to replica, not through
Redis), a new call is still answered, and only what needs the directory waits
(`cluster_unavailable`). Once Redis is back, the heartbeats re-claim and
re-publish every call, including the one that arrived during the outage, the
subscription comes back, and any replica takes any attach again.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import websockets

from tests.carriers.peers import peer
from tests.carriers.support import attach, expected_speech, feed, wait_until

from .processes import API_KEY, TTL_S

AudioSocket = peer("audiosocket")


async def first_message(url: str) -> dict:
    async with websockets.connect(url) as ws:
        return json.loads(await ws.recv())


async def attach_when_registered(base: str, call: str) -> dict:
    """The `ready` of a local attach, once the call (dialled just now) is registered.

    Until then the replica cannot tell it from a call elsewhere, and with Redis
    down it says so (`cluster_unavailable`) rather than `unknown_call`.
    """
    deadline = time.monotonic() + 5
    while True:
        first = await first_message(f"{base}/v1/speak?call={call}&listen=0&token={API_KEY}")
        if first["type"] == "ready" or time.monotonic() > deadline:
            return first
        assert first["code"] in ("unknown_call", "cluster_unavailable"), first
        await asyncio.sleep(0.02)


async def test_a_redis_restart_mid_run_loses_no_call_and_crashes_nothing(
    redis_server, replicas
) -> None:
    r1, r2 = replicas
    calls = await feed(r2.ws, token=API_KEY)
    async with AudioSocket(r1, AudioSocket.new_id()) as carrier:
        app = await attach(r2.ws, call=carrier.call_id, token=API_KEY)  # bridged to r1
        await calls.first("call_started", call=carrier.call_id)
        redis_server.stop()
        heard_before = len(app.frames)
        text = "We are still connected."
        await app.send(type="text", text=text)
        await app.send(type="flush")
        await app.first("flushed", limit_s=15)
        await wait_until(lambda: expected_speech(text, carrier.fmt) in bytes(carrier.audio), 5,
                         "speech through the bridge with Redis down")  # fmt: skip
        assert len(app.frames) > heard_before + 10  # and the caller is still heard
        # Where a call lives cannot be looked up meanwhile: said so, not "unknown".
        refused = await first_message(f"{r2.ws}/v1/speak?call={carrier.call_id}&token={API_KEY}")
        assert refused["code"] == "cluster_unavailable"
        async with AudioSocket(r1, AudioSocket.new_id()) as during:  # answered all the same
            assert (await attach_when_registered(r1.ws, during.call_id))["type"] == "ready"
            restarted_at = time.monotonic()
            redis_server.start()
            for call in (carrier.call_id, during.call_id):  # re-claimed by the heartbeats
                key = f"voxgate:id:{call}"
                await wait_until(lambda key=key: redis_server.command("EXISTS", key) == "1",
                                 TTL_S, key)  # fmt: skip
            # The call that came during the outage is announced everywhere, and attachable.
            await calls.first("call_started", call=during.call_id, limit_s=TTL_S)
            late = await attach(r2.ws, call=during.call_id, listen=0, token=API_KEY)
            assert late.events[0]["call"] == during.call_id
            await late.close()
            print(f"re-published {time.monotonic() - restarted_at:.2f} s after the restart")
        async with AudioSocket(r1, AudioSocket.new_id()) as after:  # the channel is back
            await calls.first("call_started", call=after.call_id, limit_s=TTL_S)
        assert not calls.of("call_ended") or all(
            e["call"] != carrier.call_id for e in calls.of("call_ended")
        )  # the bridged call was never taken for ended
        await app.send(type="hangup")
        assert (await app.first("call_ended"))["reason"] == "app_hangup"
    for replica in (r1, r2):
        assert replica.server.alive()
        async with httpx.AsyncClient() as client:
            ready = (await client.get(f"{replica.http}/readyz", timeout=5)).json()
        assert ready["redis"] is True and ready["status"] == "ready"
        log = replica.log()
        assert "Traceback" not in log
    assert "cluster Redis unreachable" in r1.log()
    assert "reachable again" in r1.log()
    await app.close()
    await calls.close()
