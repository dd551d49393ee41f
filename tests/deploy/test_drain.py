"""SIGTERM drains a real gateway process: no new work, live calls finish, then it stops.

The gateway runs as `python -m gateway serve` (signals are the process's own)
with a live call and its application. After SIGTERM: readiness 503, new
sessions and carrier legs refused with 503 at the upgrade (so a proxy can
retry elsewhere), the AudioSocket port closed; the live call keeps speaking
and its application may re-attach. The process exits once the call is over,
long before the deadline; a call still live at the deadline is hung up with
the reason `drain_timeout`, not before; a second SIGTERM stops at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
import websockets

from tests.carriers.peers import peer
from tests.carriers.support import attach, expected_speech, wait_until
from tests.cluster.processes import API_KEY, Replica, start_replica

AudioSocket = peer("audiosocket")
Twilio = peer("twilio")


async def status_of(replica: Replica, path: str) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{replica.http}{path}", timeout=5)).status_code


async def upgrade_status(url: str) -> int:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url):
            pass
    return refused.value.response.status_code


async def exit_code(replica: Replica, limit_s: float) -> int:
    return await asyncio.to_thread(replica.server.proc.wait, limit_s)


async def test_sigterm_turns_new_work_away_and_lets_the_live_call_finish(tmp_path: Path) -> None:
    drain_s = 20.0
    replica = start_replica("drain", "", tmp_path, drain_s=drain_s)
    try:
        async with AudioSocket(replica, AudioSocket.new_id()) as carrier:
            app = await attach(replica.ws, call=carrier.call_id, listen=0, token=API_KEY)
            os.kill(replica.server.pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while await status_of(replica, "/readyz") != 503:
                assert time.monotonic() < deadline, "/readyz never went 503"
                await asyncio.sleep(0.02)
            assert await status_of(replica, "/healthz") == 200  # alive, only not ready
            assert await upgrade_status(f"{replica.ws}/v1/speak?token={API_KEY}") == 503
            assert await upgrade_status(f"{replica.ws}/twilio") == 503
            async with httpx.AsyncClient() as client:
                speech = await client.post(f"{replica.http}/v1/audio/speech?token={API_KEY}",
                                           json={"input": "Hello.", "voice": "tone"})  # fmt: skip
            assert speech.status_code == 503 and speech.json()["error"] == "draining"
            with pytest.raises(OSError):
                await asyncio.open_connection("127.0.0.1", replica.audiosocket_port)
            # The live call goes on: text sent after the signal is spoken, byte for byte.
            text = "Thanks for holding, your agent is on the line."
            await app.send(type="text", text=text)
            await app.send(type="flush")
            await app.first("flushed", limit_s=15)
            await wait_until(lambda: expected_speech(text, carrier.fmt) in bytes(carrier.audio), 5,
                             "speech after SIGTERM")  # fmt: skip
            # Its application may come back to it.
            await app.close()
            again = await attach(replica.ws, call=carrier.call_id, listen=0, token=API_KEY)
            assert again.events[0]["call"] == carrier.call_id
            await carrier.hang_up()
            ended_at = time.monotonic()
            assert (await again.first("call_ended"))["reason"] == "hangup"
        code = await exit_code(replica, drain_s)
        # It stopped because the call ended, not because the deadline came.
        assert time.monotonic() - ended_at < drain_s / 4
        assert code in (0, -signal.SIGTERM)
        assert "draining" in replica.log() and "Traceback" not in replica.log()
        await again.close()
    finally:
        replica.kill()


async def test_calls_still_live_at_the_deadline_are_hung_up_with_a_reason(tmp_path: Path) -> None:
    drain_s = 3.0
    replica = start_replica("deadline", "", tmp_path, drain_s=drain_s)
    try:
        async with (
            AudioSocket(replica, AudioSocket.new_id()) as asterisk,
            Twilio(replica, Twilio.new_id()) as twilio,
        ):
            apps = [
                await attach(replica.ws, call=c.call_id, listen=0, token=API_KEY)
                for c in (asterisk, twilio)
            ]
            os.kill(replica.server.pid, signal.SIGTERM)
            signalled = time.monotonic()
            for app in apps:
                ended = await app.first("call_ended", limit_s=drain_s * 3)
                assert ended["reason"] == "drain_timeout"
            waited = time.monotonic() - signalled
            assert waited >= drain_s * 0.95  # the calls had their whole deadline...
            assert waited < drain_s * 1.5  # ...and were ended at it
            await wait_until(asterisk.hung_up_by_gateway.is_set, 5, "AudioSocket's hangup kind")
            await wait_until(twilio.closed.is_set, 5, "Twilio's socket to close")
            assert twilio.close_code == 1000
            for app in apps:
                await app.first("done")
        assert await exit_code(replica, 10) in (0, -signal.SIGTERM)
        for app in apps:
            await app.close()
    finally:
        replica.kill()


async def test_a_second_sigterm_stops_at_once(tmp_path: Path) -> None:
    replica = start_replica("twice", "", tmp_path, drain_s=60)
    try:
        async with AudioSocket(replica, AudioSocket.new_id()) as carrier:
            app = await attach(replica.ws, call=carrier.call_id, listen=0, token=API_KEY)
            os.kill(replica.server.pid, signal.SIGTERM)
            await asyncio.sleep(0.3)
            assert replica.server.alive()  # draining, for up to a minute
            os.kill(replica.server.pid, signal.SIGTERM)
            stopped = time.monotonic()
            await exit_code(replica, 15)
            assert time.monotonic() - stopped < 60 / 4
            await app.close()
    finally:
        replica.kill()
