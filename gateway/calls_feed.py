"""`GET /v1/calls`: a WebSocket that tells the application about every call.

Same authentication and origin rule as the rest of `/v1/*`. After `ready`, the
calls already live (with Redis: on every replica) are announced
(`call_started`, so an application that connects or reconnects late still
learns of them), then every `call_started`
and `call_ended` as it happens, in order, as JSON text messages: the same
events the webhook POSTs. The socket is for listening: anything the client
sends is answered with an `error` and otherwise ignored. A client that stops
reading is dropped (close 1008) rather than queued for without limit; a call
is never held up by it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

from .auth import accepted_subprotocol, origin_allowed, tenant_of
from .call_events import Subscriber
from .sending import close_quietly, send_message
from .state import Gateway, gateway_of

log = logging.getLogger(__name__)


async def calls_feed(ws: WebSocket) -> None:
    gw = gateway_of(ws)
    if not origin_allowed(ws, gw.settings):
        gw.metrics.errors.labels(code="forbidden_origin").inc()
        await ws.close(code=1008, reason="origin not allowed")
        return
    if tenant_of(ws, gw.settings) is None:
        await ws.close(code=1008, reason="missing or invalid API key")
        return
    await ws.accept(subprotocol=accepted_subprotocol(ws))
    if len(gw.call_events) >= gw.settings.max_sessions:
        gw.metrics.errors.labels(code="over_capacity").inc()
        await _send(ws, {"type": "error", "code": "over_capacity", "message": "at capacity"})
        await ws.close(1013, "over capacity")
        return
    subscriber = gw.call_events.subscribe()
    try:
        await _serve(ws, gw, subscriber)
    except (TimeoutError, OSError, RuntimeError):
        log.info("calls subscriber went away")
    finally:
        gw.call_events.unsubscribe(subscriber)
        if ws.application_state == WebSocketState.CONNECTED:
            await close_quietly(ws, 1000)


async def _send(ws: WebSocket, event: dict[str, Any]) -> None:
    await send_message(ws, json.dumps(event, separators=(",", ":"), ensure_ascii=False))


async def _serve(ws: WebSocket, gw: Gateway, subscriber: Subscriber) -> None:
    live = gw.live_call_events()  # after subscribing: a call starting now is in one or both
    await _send(ws, {"type": "ready", "live_calls": len(live)})
    announced = {event["call"] for event in live}
    for event in live:
        await _send(ws, event)
    receive = asyncio.ensure_future(ws.receive())
    overflow = asyncio.ensure_future(subscriber.overflowed.wait())
    try:
        while True:
            event = asyncio.ensure_future(subscriber.queue.get())
            done, _ = await asyncio.wait(
                {receive, event, overflow}, return_when=asyncio.FIRST_COMPLETED
            )
            if event not in done:
                event.cancel()
            if overflow in done:
                await ws.close(1008, "subscriber not reading")
                return
            if receive in done:
                if receive.result()["type"] == "websocket.disconnect":
                    return
                await _send(ws, {"type": "error", "code": "read_only",
                                 "message": "/v1/calls only sends events"})  # fmt: skip
                receive = asyncio.ensure_future(ws.receive())
            if event in done:
                body = event.result()
                if body["call"] in announced:  # already announced from the snapshot
                    announced.discard(body["call"])
                    if body["type"] == "call_started":
                        continue
                await _send(ws, body)
    finally:
        for task in (receive, overflow):
            task.cancel()
