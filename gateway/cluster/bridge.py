"""An attach bridged to the replica that holds the call: two sockets, spliced.

The receiving replica opens a WebSocket to the owner's `/internal/bridge`,
with the session's settings as its query and the tenant it authenticated,
signed with the cluster secret (`gateway.cluster.signing`); the owner runs the
session there as it would a local one. Then every message is passed through
as it is, both ways, in order: the application's text and control messages to
the owner; `ready`, events and the caller's audio back. The application sees
the owner's session exactly (its `ready`, its errors, its close code and
reason), plus what only the bridge can know:

* the owner cannot be reached at attach time: `unknown_call` (close 1008),
  as for a call that is gone;
* the owner vanishes mid-call (its socket dropped without a close frame and
  its port refuses connections: the process died, and its calls with it):
  `call_ended` with reason `replica_lost`, then `done`, close 1000, as a
  local application is told of a call that ended;
* the owner is still there but the bridge broke: `error` `bridge_lost`, close
  1011, so the application can attach again.

Bounds: messages from the owner are limited like a client's
(`ws_max_size`); a client that stops reading is dropped after the same send
timeout as a local session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

import websockets
from starlette.websockets import WebSocket, WebSocketState

from ..calls import unknown_call
from ..protocol import SpeakSettings
from ..sending import close_quietly, send_message
from ..state import Gateway
from .directory import Owner

log = logging.getLogger("gateway.cluster")

BRIDGE_PATH = "/internal/bridge"
CONNECT_TIMEOUT_S = 3.0
PROBE_TIMEOUT_S = 1.0


def settings_query(settings: SpeakSettings) -> str:
    """The session's settings as a query the owner parses like a client's."""
    values: dict[str, Any] = {k: v for k, v in settings.as_dict().items() if v is not None}
    values["listen"] = "1" if settings.listen else "0"
    return urlencode({k: str(v) for k, v in values.items()})


def ws_base(address: str) -> str:
    return "ws" + address.removeprefix("http") if address.startswith("http") else address


async def owner_gone(address: str) -> bool:
    """True unless the owner's `/healthz` answers 200 within `PROBE_TIMEOUT_S`.

    A TCP connect alone proves nothing: while a killed process is torn down the
    kernel still completes handshakes on its listening socket.
    """
    parts = urlsplit(address)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    writer = None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(
                parts.hostname, port, ssl=parts.scheme == "https" or None
            )
            writer.write(f"GET /healthz HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                         "Connection: close\r\n\r\n".encode())  # fmt: skip
            status = await reader.readline()
    except (OSError, TimeoutError):
        return True
    finally:
        if writer is not None:
            writer.close()
    return status.split(b" ")[1:2] != [b"200"]


async def _send_event(ws: WebSocket, event: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):
        await send_message(ws, json.dumps(event, separators=(",", ":")))


async def _close(ws: WebSocket, code: int, reason: str = "") -> None:
    if ws.application_state == WebSocketState.CONNECTED:
        await close_quietly(ws, code, reason)


async def _to_owner(ws: WebSocket, upstream: Any) -> None:
    """The application's messages, on to the owner, until it leaves."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        await upstream.send(text if text is not None else message.get("bytes") or b"")


async def _to_client(upstream: Any, ws: WebSocket) -> None:
    """The owner's messages, on to the application, until the owner closes."""
    with contextlib.suppress(websockets.ConnectionClosed):
        async for message in upstream:
            await send_message(ws, message)


async def bridge_out(
    ws: WebSocket,
    gw: Gateway,
    owner: Owner,
    settings: SpeakSettings,
    tenant: str,
    log_extra: dict[str, str],
) -> str:
    """Proxy this (accepted) socket to the owner's session; returns the session's end reason."""
    cluster = gw.cluster
    assert cluster is not None
    extra = log_extra | {"call": owner.call, "replica": owner.replica}
    target = f"{BRIDGE_PATH}?{settings_query(settings)}"
    try:
        upstream = await websockets.connect(
            ws_base(owner.address) + target,
            additional_headers=cluster.sign(target, tenant),
            open_timeout=CONNECT_TIMEOUT_S,
            max_size=gw.settings.max_message_bytes * 4,
            compression=None,
            close_timeout=2,
        )
    except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
        log.warning("bridge to the call's replica failed (%s)", type(exc).__name__, extra=extra)
        gw.metrics.errors.labels(code="unknown_call").inc()
        name, field = (settings.call, "call") if settings.call else (settings.session, "session")
        await _send_event(ws, unknown_call(name or "", field).event())
        await _close(ws, 1008, "unknown_call")
        return "unknown_call"
    gw.metrics.bridges.labels(direction="out").inc()
    log.info("attach bridged to the call's replica", extra=extra)
    to_owner = asyncio.ensure_future(_to_owner(ws, upstream))
    to_client = asyncio.ensure_future(_to_client(upstream, ws))
    try:
        done, _ = await asyncio.wait({to_owner, to_client}, return_when=asyncio.FIRST_COMPLETED)
        if to_client not in done:
            if to_owner.exception() is None:  # the application left first
                await upstream.close()
                return "disconnected"
            # The owner's side closed under a send: what it said arrives on the other task.
            await asyncio.wait({to_client}, timeout=2)
            if not to_client.done():
                await _close(ws, 1011, "bridge lost")
                return "bridge_lost"
        if (failure := to_client.exception()) is not None:
            log.info("bridged client is not reading (%s)", type(failure).__name__, extra=extra)
            gw.metrics.errors.labels(code="slow_client").inc()
            await _close(ws, 1008, "client is not reading audio")
            return "output_failed"
        received = upstream.protocol.close_rcvd
        if received is not None:  # the owner's session ended: its close, as it sent it
            code = 1000 if received.code in (1005, 1006) else received.code
            await _close(ws, code, received.reason)
            return "bridged"
        if await owner_gone(owner.address):
            log.warning("the call's replica is gone", extra=extra)
            await _send_event(ws, {"type": "call_ended", "call": owner.call,
                                   "reason": "replica_lost"})  # fmt: skip
            await _send_event(ws, {"type": "done"})
            await _close(ws, 1000)
            return "replica_lost"
        log.warning("bridge to the call's replica broke", extra=extra)
        lost = "the link to the call was lost; attach again"
        await _send_event(ws, {"type": "error", "code": "bridge_lost", "message": lost})
        await _close(ws, 1011, "bridge lost")
        return "bridge_lost"
    finally:
        for task in (to_owner, to_client):
            task.cancel()
        for task in (to_owner, to_client):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await upstream.close()
