"""How the gateway is served: uvicorn options, a request-head timeout, the operations port.

Bounds a gateway needs that uvicorn leaves open: uvicorn has no timeout for a
request head that never completes, so a client can hold a connection (and a
file descriptor) forever by sending a request line one byte at a time; here a
connection whose head is not complete `header_timeout_s` after it opened, or
after its previous response, is closed. Together with the head size limit,
the keep-alive timeout and the connection limit, partial requests can no
longer exhaust the process.

The operations endpoints (`/metrics`, `/readyz`) can be served on a port of
their own (`VOXGATE_OPS_PORT`), bound apart from the public one; that server
runs inside the main server's event loop, started and stopped by its lifespan.

`DrainingServer` is uvicorn's server with SIGTERM turned into a drain (see
`gateway.drain`): uvicorn on its own would close every WebSocket (1012) at the
first signal, cutting every call the replica holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Generator
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .config import Settings

log = logging.getLogger(__name__)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline on every request head."""

    header_timeout_s = 5.0  # set per server by `uvicorn_options`

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _head_timed_out(self) -> None:
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # closed, or upgraded to a WebSocket: no longer ours to time
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()  # no request head since the connection or the last response

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.Config`/`uvicorn.run` that bound what clients hold."""
    protocol = type(
        "GatewayH11Protocol", (GuardedH11Protocol,), {"header_timeout_s": settings.header_timeout_s}
    )
    return {
        "http": protocol,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_keep_alive": settings.keep_alive_s,
        "limit_concurrency": settings.max_connections,
        "ws_max_size": settings.max_message_bytes * 4,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "server_header": False,
    }


class DrainingServer(uvicorn.Server):
    """The first SIGTERM runs `drain` (it returns when live work is done or its deadline
    passed), then the server stops as usual; a second SIGTERM, or SIGINT, stops at once."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._drain = drain
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_task: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets=sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self._draining and not self.should_exit and self._loop:
            self._draining = True
            self._captured_signals.append(sig)  # the process still ends by SIGTERM, after it
            self._loop.call_soon_threadsafe(self._start_drain)
            return
        super().handle_exit(sig, frame)

    def _start_drain(self) -> None:
        assert self._loop is not None
        self._drain_task = self._loop.create_task(self._drain_then_stop(), name="voxgate-drain")

    async def _drain_then_stop(self) -> None:
        try:
            await self._drain()
        except Exception:
            log.exception("drain failed; stopping now")
        finally:
            self.should_exit = True


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server run inside another one's loop: the host owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket, bound before the server starts so a busy port is a clean error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def start_ops_server(
    app: Any, settings: Settings, sock: socket.socket
) -> tuple[EmbeddedServer, asyncio.Task[None]]:
    """Serve `app` on the operations socket; returns the server and its task once listening."""
    config = uvicorn.Config(
        app, lifespan="off", log_config=None, access_log=False, **uvicorn_options(settings)
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="voxgate-ops-server")
    while not server.started:
        if task.done():
            task.result()
            raise OSError("the operations server stopped while starting")
        await asyncio.sleep(0.01)
    return server, task
