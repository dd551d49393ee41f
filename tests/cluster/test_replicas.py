"""Replicas that share calls: a call on one replica, its application on another, for real.

Two (for the crash, three) `python -m gateway serve` processes against one
`redis-server`; the fake carriers of `tests/carriers/peers` dial one replica
and the application attaches on another, so every message crosses the bridge
between the two processes. What the caller hears is compared byte for byte
with what the simulated engine renders; DTMF, the caller's audio, marks,
barge-in and hang-up go the other way.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import websockets

from gateway.cluster.bridge import owner_gone
from tests.carriers.peers import peer
from tests.carriers.peers.base import TONE_HZ
from tests.carriers.support import attach, dominant_hz, expected_speech, feed, wait_until

from .processes import API_KEY, TTL_S, start_replica

LONG = " ".join(f"This is sentence number {n} of a rather long answer." for n in range(12))
AudioSocket = peer("audiosocket")
Twilio = peer("twilio")


async def wait_until_async(
    probe: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], limit_s: float = 5.0
) -> None:
    deadline = time.monotonic() + limit_s
    while not ok(await probe()):
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.02)


async def metric(replica, name: str, **labels: str) -> float:
    """One sample of a replica's /metrics (0 when absent)."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{replica.http}/metrics", timeout=5)).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    line = f"{name}{{{want}}}" if labels else name
    for row in text.splitlines():
        if row.startswith(line + " "):
            return float(row.split()[-1])
    return 0.0


async def test_an_audiosocket_call_on_one_replica_is_served_to_an_app_on_another(replicas) -> None:
    r1, r2 = replicas
    feeds = [await feed(r.ws, token=API_KEY) for r in (r1, r2)]
    async with AudioSocket(r1, AudioSocket.new_id()) as carrier:
        for calls in feeds:  # both replicas announce the call, wherever it lives
            started = await calls.first("call_started", call=carrier.call_id)
            assert started["carrier"] == "audiosocket"
        app = await attach(r2.ws, call=carrier.call_id, token=API_KEY, encoding="pcm16",
                           sample_rate=16000)  # fmt: skip
        ready = app.events[0]
        assert (ready["call"], ready["carrier"]) == (carrier.call_id, "audiosocket")
        assert ready["settings"]["format"] == "audiosocket"  # the owner's leg, as a local attach
        assert ready["listen"]["frame_bytes"] == 640
        # The caller's audio crosses the bridge: 20 ms of 16 kHz slin a message, the tone.
        await wait_until(lambda: len(app.frames) >= 30, 10, "caller audio")
        assert {len(f) for _, f in app.frames} == {640}
        assert abs(dominant_hz(b"".join(f for _, f in app.frames[5:30]), 16000) - TONE_HZ) < 10
        await carrier.press("7")
        assert await app.first("dtmf") == {"type": "dtmf", "digit": "7", "call": carrier.call_id}

        text = "Your order has shipped."
        await app.send(type="text", text=text)
        await app.send(type="flush")
        await app.send(type="mark", name="shipped")
        assert (await app.first("mark", name="shipped", limit_s=15))["played"] is True
        assert expected_speech(text, carrier.fmt) in bytes(carrier.audio)  # byte for byte

        await app.send(type="text", text=LONG)
        speech = len(expected_speech(text, carrier.fmt))
        await wait_until(lambda: len(carrier.audio) > speech * 3, 15, "the long answer")
        await app.send(type="clear")
        cleared = await app.first("cleared")
        assert cleared["heard"] and LONG.startswith(cleared["heard"].split(" ")[0])
        await asyncio.sleep(0.3)
        assert bytes(carrier.audio[-10 * carrier.fmt.frame_bytes :]).strip(b"\x00") == b""

        await app.send(type="hangup")
        ended = await app.first("call_ended")
        assert ended["reason"] == "app_hangup" and ended["call"] == carrier.call_id
        await app.first("done")
        await wait_until(app.closed.is_set, 5, "the app's close")
        assert app.close_code == 1000
        await wait_until(carrier.hung_up_by_gateway.is_set, 5, "AudioSocket's hangup kind")
        for calls in feeds:
            done = await calls.first("call_ended", call=carrier.call_id)
            assert done["reason"] == "app_hangup"
    assert await metric(r2, "voxgate_cluster_bridges_total", direction="out") >= 1
    assert await metric(r1, "voxgate_cluster_bridges_total", direction="in") >= 1
    for reader in (app, *feeds):
        await reader.close()


async def test_a_twilio_call_on_replica_two_attached_by_its_alias_through_replica_one(
    replicas,
) -> None:
    r1, r2 = replicas
    async with Twilio(r2, Twilio.new_id(), params={"session": "order-8812"}) as carrier:
        app = await attach(r1.ws, session="order-8812", token=API_KEY)
        ready = app.events[0]
        assert (ready["call"], ready["carrier"]) == (carrier.call_id, "twilio")
        assert ready["settings"]["stream_sid"] == carrier.stream_sid
        assert ready["aliases"] == ["order-8812"]
        await wait_until(lambda: len(app.frames) >= 20, 10, "caller audio")
        assert {len(f) for _, f in app.frames} == {160}  # µ-law 8 kHz, the default
        await carrier.press("#")
        assert (await app.first("dtmf"))["digit"] == "#"
        text = "Your table for four is ready."
        await app.send(type="text", text=text)
        await app.send(type="flush")
        await app.first("flushed", limit_s=15)
        await wait_until(lambda: expected_speech(text, carrier.fmt) in bytes(carrier.audio), 5,
                         "the speech on Twilio's wire")  # fmt: skip
        await wait_until(lambda: "voxgate-s0" in carrier.acked, 5, "Twilio's mark echo")
        await carrier.hang_up()  # Twilio's stop: the call ends, the bridged app is told why
        ended = await app.first("call_ended")
        assert ended["reason"] == "stop"
        await app.first("done")
        await wait_until(app.closed.is_set, 5, "the app's close")
        assert app.close_code == 1000
    await app.close()


async def test_a_live_id_or_alias_is_never_taken_by_a_leg_on_another_replica(replicas) -> None:
    r1, r2 = replicas
    calls = await feed(r2.ws, token=API_KEY)
    call_id = Twilio.new_id()
    refused_before = await metric(r2, "voxgate_errors_total", code="call_id_taken")
    async with Twilio(r1, call_id, params={"session": "vip-7"}) as real:
        app = await attach(r2.ws, call=call_id, listen=0, token=API_KEY)
        async with Twilio(r2, call_id) as impostor:  # the same callSid, on the other replica
            await wait_until(impostor.closed.is_set, 5, "the impostor to be refused")
            assert impostor.close_code == 1008
        async with Twilio(r2, Twilio.new_id(), params={"session": "vip-7"}) as thief:
            await wait_until(thief.closed.is_set, 5, "the alias thief to be refused")
            assert thief.close_code == 1008
        assert await metric(r2, "voxgate_errors_total", code="call_id_taken") == refused_before + 2
        text = "Your account is safe."
        await app.send(type="text", text=text)
        await app.send(type="flush")
        await app.first("flushed", limit_s=15)
        await wait_until(lambda: expected_speech(text, real.fmt) in bytes(real.audio), 5, "speech")
        await app.close()
    await calls.first("call_ended", call=call_id)  # published after its keys were released
    # Once the call is over its alias is free again, on any replica.
    async with Twilio(r2, Twilio.new_id(), params={"session": "vip-7"}) as successor:
        app = await attach(r1.ws, session="vip-7", listen=0, token=API_KEY)
        assert app.events[0]["call"] == successor.call_id
        await app.close()
    await calls.close()


async def test_a_bridged_session_keeps_the_limits_of_a_local_one(replicas) -> None:
    r1, r2 = replicas
    with pytest.raises(websockets.InvalidStatus) as refused:  # no key: refused where it lands
        await websockets.connect(f"{r2.ws}/v1/speak?call=CA0000")
    assert refused.value.response.status_code == 403
    async with AudioSocket(r1, AudioSocket.new_id()) as carrier:
        app = await attach(r2.ws, call=carrier.call_id, listen=0, token=API_KEY)
        await app.ws.send("x" * 70_000)  # over max_message_bytes: the owner's answer
        assert (await app.first("error"))["code"] == "message_too_large"
        await app.ws.send(b"\x00\x01")
        await app.first("error", code="binary_not_allowed")
        async with websockets.connect(
            f"{r1.ws}/v1/speak?call={carrier.call_id}&token={API_KEY}"
        ) as second:  # a second application, local to the owner: the call is busy
            assert json.loads(await second.recv())["code"] == "call_busy"
        await app.send(type="text", text="Still here.")
        await app.send(type="flush")
        await app.first("flushed", limit_s=15)  # the session goes on after refused messages
        await app.close()


async def test_a_replica_killed_mid_call_ends_its_calls_everywhere_within_the_ttl(
    replicas, redis_server, logs
) -> None:
    r1, r2 = replicas
    r3 = start_replica("replica3", redis_server.url, logs)
    try:
        calls = await feed(r2.ws, token=API_KEY)
        async with AudioSocket(r3, AudioSocket.new_id()) as carrier:
            await calls.first("call_started", call=carrier.call_id)
            app = await attach(r1.ws, call=carrier.call_id, listen=0, token=API_KEY)
            await app.send(type="text", text="One moment please.")
            await app.first("sentence", limit_s=15)
            key = f"voxgate:id:{carrier.call_id}"
            assert redis_server.command("EXISTS", key) == "1"
            assert not await owner_gone(r3.http)  # the probe a broken bridge makes, on a live owner
            r3.kill()
            killed_at = time.monotonic()
            # The bridged application hears at once that its call is gone.
            ended = await app.first("call_ended", limit_s=5)
            assert ended == {"type": "call_ended", "call": carrier.call_id,
                             "reason": "replica_lost"}  # fmt: skip
            await app.first("done")
            await wait_until(app.closed.is_set, 5, "the app's close")
            assert app.close_code == 1000
            # The directory forgets the call within the TTL; every replica announces its end.
            await wait_until(lambda: redis_server.command("EXISTS", key) == "0", TTL_S + 1, key)
            assert time.monotonic() - killed_at <= TTL_S + 0.5
            gone = await calls.first("call_ended", call=carrier.call_id, limit_s=TTL_S * 2)
            assert gone["reason"] == "replica_lost"
            assert time.monotonic() - killed_at < TTL_S + 2 * TTL_S / 3 + 1  # TTL + a heartbeat
        async with websockets.connect(
            f"{r2.ws}/v1/speak?call={carrier.call_id}&token={API_KEY}"
        ) as late:
            assert json.loads(await late.recv())["code"] == "unknown_call"
        await app.close()
        await calls.close()
    finally:
        r3.kill()


async def test_a_draining_owner_still_serves_its_calls_to_every_replica_then_leaves(
    replicas, redis_server, logs
) -> None:
    r1, r2 = replicas
    r3 = start_replica("replica3-drain", redis_server.url, logs, drain_s=30)
    try:
        calls = await feed(r2.ws, token=API_KEY)
        async with AudioSocket(r3, AudioSocket.new_id()) as carrier:
            await calls.first("call_started", call=carrier.call_id)
            os.kill(r3.server.pid, signal.SIGTERM)
            async with httpx.AsyncClient() as client:
                await wait_until_async(
                    lambda: client.get(f"{r3.http}/readyz"), lambda r: r.status_code == 503
                )
            # Its live call is still reachable from another replica, over the bridge.
            app = await attach(r1.ws, call=carrier.call_id, listen=0, token=API_KEY)
            text = "Your transfer is complete."
            await app.send(type="text", text=text)
            await app.send(type="flush")
            await app.first("flushed", limit_s=15)
            await wait_until(lambda: expected_speech(text, carrier.fmt) in bytes(carrier.audio),
                             5, "speech from a draining owner")  # fmt: skip
            await carrier.hang_up()
            assert (await app.first("call_ended"))["reason"] == "hangup"
        # The call's end is the real one (not replica_lost), and the replica leaves at once.
        assert (await calls.first("call_ended", call=carrier.call_id))["reason"] == "hangup"
        await asyncio.to_thread(r3.server.proc.wait, 15)
        replicas_left = redis_server.command("SMEMBERS", "voxgate:replicas").split()
        assert len(replicas_left) == 2
        await app.close()
        await calls.close()
    finally:
        r3.kill()
