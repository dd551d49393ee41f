"""A real uvicorn server on a free loopback port, in a background thread, for end-to-end tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from gateway.app import create_app
from gateway.config import Settings
from gateway.serving import uvicorn_options
from tts_core import AudioCache, SpeechCore
from tts_core.engine import Engine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Running:
    http: str
    ws: str
    audiosocket_port: int
    app: object

    loop: object = None

    @property
    def gateway(self):
        return self.app.state.gateway

    def pipeline_tasks(self) -> list[str]:
        """Names of the server loop's live speaking-pipeline tasks."""
        import asyncio

        return [
            t.get_name()
            for t in list(asyncio.all_tasks(self.loop))
            if t.get_name().startswith("voxgate-") and not t.done()
        ]


@contextmanager
def serve(settings: Settings, engine: Engine | None = None, **core_kw) -> Iterator[Running]:
    settings.host = "127.0.0.1"
    settings.port = 0
    if settings.audiosocket_port:
        settings.audiosocket_port = free_port()
    core = None
    if engine is not None:
        core_kw.setdefault("piece_s", settings.render_piece_ms / 1000)  # as the app does
        core = SpeechCore(
            engine,
            idle_unload_s=core_kw.pop("idle_unload_s", 0),
            cache=AudioCache(core_kw.pop("cache_entries", 0)),
            **core_kw,
        )
    app = create_app(settings, core)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        **uvicorn_options(app.state.gateway.settings),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    gw = app.state.gateway
    as_port = gw.audiosocket.port if gw.audiosocket else 0
    try:
        yield Running(
            f"http://127.0.0.1:{port}",
            f"ws://127.0.0.1:{port}",
            as_port,
            app,
            server.servers[0].get_loop(),
        )
    finally:
        server.should_exit = True
        thread.join(15)
        if core is not None:
            # The engine belongs to the test session; only the core's thread is ours.
            core._executor.shutdown(wait=True)
