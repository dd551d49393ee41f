"""Writing to a client's WebSocket with bounds: a client that stops reading is let go.

Every socket the gateway writes to (speak sessions, the vendor dialects,
carrier legs, `/v1/calls` subscribers, bridges) sends through here, so a
stalled reader costs at most `SEND_TIMEOUT_S` and a close never hangs.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket

SEND_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0


async def send_message(
    ws: WebSocket, message: str | bytes, timeout_s: float = SEND_TIMEOUT_S
) -> None:
    """Send one message; `TimeoutError` when the client did not take it in `timeout_s`."""
    # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that lands as
    # the send completes, and a barge-in then waits forever.
    async with asyncio.timeout(timeout_s):
        if isinstance(message, bytes):
            await ws.send_bytes(message)
        else:
            await ws.send_text(message)


async def close_quietly(ws: WebSocket, code: int = 1000, reason: str = "") -> None:
    """A close frame (before the upgrade: a refusal); never raises, never waits long."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await ws.close(code, reason)
