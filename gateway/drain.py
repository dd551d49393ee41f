"""Graceful drain: on SIGTERM a replica stops taking work and lets live calls finish.

What a rolling update or a scale-down needs from a gateway holding phone
calls: the first SIGTERM (`gateway.serving.DrainingServer`) sets the gateway
draining, and then

* `/readyz` answers 503 (`draining`), so load balancers and Kubernetes stop
  sending new work here;
* new calls and new sessions are refused with HTTP 503 on the upgrade
  (`DrainGate`), which a proxy can retry on another replica (nginx
  `proxy_next_upstream http_503`); TCP carrier listeners (AudioSocket) stop
  listening, so Asterisk's next call connects elsewhere;
* what belongs to the live calls still works: an application attaching (or
  re-attaching) to a call held here, directly or bridged from another
  replica, and the operations endpoints;
* live calls and sessions go on until they end, for at most `VOXGATE_DRAIN_S`;
  the calls still live then are hung up the carrier's way with the reason
  `drain_timeout` (their applications get `call_ended` with it), and the
  server shuts down as it always does. A second SIGTERM, or SIGINT, stops at
  once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from .state import Gateway

log = logging.getLogger(__name__)

OPEN_WHILE_DRAINING = frozenset({"/healthz", "/readyz", "/metrics", "/internal/bridge"})
POLL_S = 0.05
SETTLE_S = 2.0  # after the deadline's hang-ups, how long their sessions get to say goodbye


def admitted_while_draining(scope: Scope) -> bool:
    """Operations, and attaches to live calls; nothing that starts new work."""
    path = scope.get("path", "")
    if path in OPEN_WHILE_DRAINING:
        return True
    if path == "/v1/speak":
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return bool(query.get("call") or query.get("session"))
    return False


class DrainGate:
    """Refuses new work with 503 while the gateway drains (pure ASGI, before any route)."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gw = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] in ("http", "websocket")
            and self.gw.draining
            and not admitted_while_draining(scope)
        ):
            await self._refuse(scope, send)
            return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        self.gw.metrics.errors.labels(code="draining").inc()
        body = json.dumps(
            {"error": "draining", "message": "this replica is shutting down; try another"}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"retry-after", b"1"),
                   (b"content-length", str(len(body)).encode())]  # fmt: skip
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif "websocket.http.response" in scope.get("extensions", {}):
            await send({"type": "websocket.http.response.start", "status": 503,
                        "headers": headers})  # fmt: skip
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1013, "reason": "draining"})


async def _until(done: Callable[[], bool], deadline: float) -> None:
    """Poll `done` until it holds or the loop's clock passes `deadline`.

    Calls and sessions end in many places (carriers, clients, hang-ups) and
    none of them signals a drain; a 50 ms poll costs nothing and adds no hook.
    """
    loop = asyncio.get_running_loop()
    while not done() and loop.time() < deadline:  # noqa: ASYNC110 - see the docstring
        await asyncio.sleep(POLL_S)


async def drain(gw: Gateway) -> None:
    """Stop taking work; wait for live calls and sessions up to the deadline; end the rest."""
    loop = asyncio.get_running_loop()
    deadline_s = gw.settings.drain_s
    gw.draining = True
    for listener in gw.tcp.values():
        await listener.pause()
    log.info(
        "draining: no new calls or sessions; live ones may finish",
        extra={"calls": len(gw.calls), "sessions": len(gw.sessions), "deadline_s": deadline_s},
    )
    await _until(lambda: not len(gw.calls) and not gw.sessions, loop.time() + deadline_s)
    left = gw.calls.all()
    for call in left:
        await gw.calls.hang_up(call, "drain_timeout")
    gw.refresh_gauges()
    await _until(lambda: not gw.sessions, loop.time() + SETTLE_S)
    log.info("drained", extra={"calls_ended": len(left), "sessions_left": len(gw.sessions)})
