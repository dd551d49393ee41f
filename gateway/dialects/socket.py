"""The I/O edge every WebSocket dialect shares: bounded sends, idle-bounded receives.

Vendor WebSockets differ in their messages, not in how a socket must be
treated: one writer at a time; a client that stops reading is let go after a
bounded wait rather than holding synthesis forever (the send stage waits on
it); a client that says nothing for `session_idle_s` is closed with a reason;
every close is a close frame with a code and a reason, never a dropped
connection. A refusal before the upgrade answers with an HTTP status and the
vendor's JSON body, which is what the vendors' SDKs turn into an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ..sending import close_quietly, send_message


class SocketGone(Exception):
    """The client disconnected or stopped reading."""


class Stopped(Exception):
    """Something other than the client ended the wait for its next message."""


class DialectSocket:
    def __init__(self, ws: WebSocket, *, idle_s: float, max_message_bytes: int) -> None:
        self.ws = ws
        self.idle_s = idle_s
        self.max_message_bytes = max_message_bytes
        self._lock = asyncio.Lock()
        self.closed = False

    async def deny(self, status: int, body: dict[str, Any]) -> None:
        """Refuse the upgrade with an HTTP answer (falls back to a close frame)."""
        try:
            await self.ws.send_denial_response(JSONResponse(body, status_code=status))
        except RuntimeError:  # the server does not offer denial responses
            await self.ws.close(1008, str(body)[:120])
        self.closed = True

    async def _send(self, message: str | bytes) -> None:
        if self.closed or self.ws.application_state != WebSocketState.CONNECTED:
            raise SocketGone
        async with self._lock:
            try:
                await send_message(self.ws, message)
            except TimeoutError as exc:
                raise SocketGone("client is not reading") from exc
            except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                raise SocketGone(str(exc)) from exc

    async def send_json(self, body: dict[str, Any]) -> None:
        await self._send(json.dumps(body, separators=(",", ":"), ensure_ascii=False))

    async def send_bytes(self, data: bytes) -> None:
        await self._send(data)

    async def try_send_json(self, body: dict[str, Any]) -> None:
        with contextlib.suppress(SocketGone):
            await self.send_json(body)

    async def receive(self, *stops: asyncio.Event) -> str | bytes | None:
        """The next message, or None when the client left.

        Raises `Stopped` as soon as one of `stops` is set first (the output
        failed, the adapter finished), and `TimeoutError` after `idle_s` of silence.
        """
        receive = asyncio.ensure_future(self.ws.receive())
        waits = {receive, *(asyncio.ensure_future(e.wait()) for e in stops)}
        try:
            done, _ = await asyncio.wait(waits, timeout=self.idle_s, return_when="FIRST_COMPLETED")
        finally:
            for task in waits:
                if not task.done():
                    task.cancel()
            for task in waits - {receive}:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if receive not in done:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receive
            if done:
                raise Stopped
            raise TimeoutError
        message = receive.result()
        if message["type"] == "websocket.disconnect":
            self.closed = True
            return None
        text = message.get("text")
        return text if text is not None else (message.get("bytes") or b"")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """A close frame with `code` and `reason` (idempotent)."""
        if self.closed:
            return
        self.closed = True
        await close_quietly(self.ws, code, reason[:120])
