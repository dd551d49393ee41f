"""Calls for the application: `/v1/calls` and the signed call webhook, against a real server.

The webhook receiver is a small HTTP server here that answers as each test
scripts it (200, 500, or never), so retries, signatures and "a call never
waits for the webhook" are checked on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from gateway.config import Settings
from gateway.webhook import signature
from tests.carriers.peers import peer
from tests.carriers.support import attach, feed, wait_until
from tts_core.sim_engine import SimulatedEngine

from .server import serve

SECRET = "whsec-0123456789"
Twilio = peer("twilio")


class Receiver:
    """An HTTP server that records POSTs and answers with the scripted statuses."""

    def __init__(self, statuses: list[int | None]) -> None:
        self.statuses = statuses  # None: never answer (a hung receiver)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.server: asyncio.Server | None = None
        self.release = asyncio.Event()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])
                       if k}  # fmt: skip
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append((headers, body))
            status = self.statuses.pop(0) if self.statuses else 200
            if status is None:
                await self.release.wait()
                return
            writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n".encode())
            await writer.drain()
        writer.close()

    async def __aenter__(self) -> Receiver:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.release.set()
        self.server.close()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]


@contextlib.asynccontextmanager
async def gateway(receiver: Receiver, **settings: Any) -> AsyncIterator[Any]:
    config = Settings(engine="sim", audiosocket_port=0, call_webhook=receiver.url,
                      call_webhook_secret=SECRET, **settings)  # fmt: skip
    with serve(config, SimulatedEngine(rtf=0.0)) as running:
        running.gateway.call_events.webhook.first_delay_s = 0.05  # retries, quickly
        yield running


def metric(running: Any, outcome: str) -> float:
    value = running.gateway.metrics.registry.get_sample_value(
        "voxgate_call_webhooks_total", {"outcome": outcome}
    )
    return value or 0.0


async def test_the_webhook_gets_each_call_signed_over_its_body() -> None:
    async with Receiver([]) as receiver, gateway(receiver) as srv:
        async with Twilio(srv, Twilio.new_id(), params={"session": "hook-1"}) as carrier:
            await wait_until(lambda: len(receiver.requests) >= 1, 5, "call_started")
            await carrier.hang_up()
            await wait_until(lambda: len(receiver.requests) >= 2, 5, "call_ended")
        (started, ended) = receiver.events()
        assert started["type"] == "call_started" and started["call"] == carrier.call_id
        assert started["aliases"] == ["hook-1"] and started["carrier"] == "twilio"
        assert ended["type"] == "call_ended" and ended["reason"] == "stop"
        for headers, body in receiver.requests:
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["x-voxgate-signature"], expected)
            assert headers["content-type"] == "application/json"
            assert signature(SECRET, body) == expected
        assert metric(srv, "delivered") == 2


async def test_a_failing_receiver_is_retried_and_a_refusing_one_is_not() -> None:
    async with Receiver([500, 503, 200, 400]) as receiver, gateway(receiver) as srv:
        async with Twilio(srv, Twilio.new_id()) as carrier:
            await wait_until(lambda: len(receiver.requests) >= 3, 5, "three attempts")
            await carrier.hang_up()
            await wait_until(lambda: len(receiver.requests) >= 4, 5, "the ended event")
        await asyncio.sleep(0.3)
        types = [e["type"] for e in receiver.events()]
        assert types == ["call_started"] * 3 + ["call_ended"]  # 400: the receiver refused it
        assert (metric(srv, "retried"), metric(srv, "delivered"), metric(srv, "failed")) == (
            2,
            1,
            1,
        )


async def test_a_hung_receiver_never_holds_a_call_up() -> None:
    async with Receiver([None] * 10) as receiver, gateway(receiver) as srv:
        async with Twilio(srv, Twilio.new_id()) as carrier:
            app = await attach(srv.ws, call=carrier.call_id, listen=0)
            await app.send(type="text", text="Right away.")
            await app.first("sentence_end", limit_s=10)
            await carrier.hang_up()
            assert (await app.first("call_ended", limit_s=5))["reason"] == "stop"
            await app.close()
        assert len(receiver.requests) == 1  # still waiting on the first answer, in the back


@pytest.fixture(scope="module")
def keyed() -> Any:
    settings = Settings(engine="sim", audiosocket_port=0, api_keys="k-calls-1")
    with serve(settings, SimulatedEngine(rtf=0.0)) as running:
        yield running


async def test_v1_calls_takes_the_same_keys_and_origins_as_v1(keyed) -> None:
    evil = {"Origin": "https://evil.example"}
    for query, headers in (({}, {}), ({"token": "wrong"}, {}), ({"token": "k-calls-1"}, evil)):
        with pytest.raises(websockets.InvalidStatus) as refused:
            url = f"{keyed.ws}/v1/calls" + (f"?token={query['token']}" if query else "")
            async with websockets.connect(url, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 403
    calls = await feed(keyed.ws, token="k-calls-1")
    await calls.ws.send('{"type": "subscribe"}')
    assert (await calls.first("error"))["code"] == "read_only"
    await calls.close()


async def test_a_late_subscriber_learns_of_the_calls_already_live(keyed) -> None:
    async with Twilio(keyed, Twilio.new_id()) as carrier:
        await wait_until(lambda: keyed.gateway.calls.get(carrier.call_id) is not None, 5, "call")
        calls = await feed(keyed.ws, token="k-calls-1")
        assert calls.events[0] == {"type": "ready", "live_calls": 1}
        assert (await calls.first("call_started"))["call"] == carrier.call_id
        await carrier.hang_up()
        ended = await calls.first("call_ended")
        assert ended["call"] == carrier.call_id and ended["reason"] == "stop"
        assert [e["type"] for e in calls.events] == ["ready", "call_started", "call_ended"]
        await calls.close()


async def test_a_subscriber_that_stops_reading_is_dropped_not_waited_for(keyed) -> None:
    calls = await feed(keyed.ws, token="k-calls-1")
    subscriber = next(iter(keyed.gateway.call_events._subscribers))
    for n in range(300):  # more than a subscriber may leave unread
        subscriber.offer({"type": "call_started", "call": f"CA{n}"})
    await wait_until(calls.closed.is_set, 5, "the slow subscriber to be closed")
    assert calls.close_code == 1008
    await calls.close()
