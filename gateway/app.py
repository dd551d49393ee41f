"""The Starlette application: routes (all registered in `create_app`), lifespan, endpoints.

The process-wide state is `gateway.state.Gateway`, which imports no endpoint;
carrier legs are served by the drivers in `gateway.drivers`, one route per
carrier in the `telephony.carriers` registry.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tts_core import EngineUnavailable, SpeechCore
from tts_core.normalize import capabilities

from .auth import refusal
from .calls_feed import calls_feed
from .config import Settings
from .dialects import routes as dialect_routes
from .drain import DrainGate
from .drivers import carrier_routes, start_tcp_carriers, stop_tcp_carriers
from .serving import bind, start_ops_server
from .speak import bridge_in, speak
from .state import Gateway, Listeners, gateway_of
from .voices import routes as voice_routes

__all__ = ["Gateway", "Listeners", "create_app", "gateway_of"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Only the page's own files, no framing, no sniffing: the demo page holds an API key.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


# -- operations -------------------------------------------------------------------------


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Whether this process can take calls, without loading the engine to find out.

    Loading a GPU model to answer a probe every few seconds would defeat idle
    unload; the engine loads on first use, and a failed load is what makes the
    gateway unready. The reason stays in the log, not in a public response.
    """
    gw = gateway_of(request)
    body: dict[str, Any] = {
        "status": "ready", "engine": gw.core.engine.name, "loaded": gw.core.loaded,
    }  # fmt: skip
    if gw.cluster is not None:
        body["redis"] = gw.cluster.up
    if gw.draining:  # SIGTERM: live calls finish here, new work goes elsewhere
        return JSONResponse(body | {"status": "draining"}, status_code=503)
    if gw.core.last_error is not None and not gw.core.loaded:
        return JSONResponse(body | {"status": "unavailable"}, status_code=503)
    health = getattr(gw.core.engine, "health", None)
    if callable(health):  # engines with upstreams: counts only, no addresses
        body |= health()
        if body.get("upstreams_up") == 0:
            return JSONResponse(body | {"status": "unavailable"}, status_code=503)
    return JSONResponse(body)


async def metrics(request: Request) -> Response:
    gw = gateway_of(request)
    gw.refresh_gauges()
    return Response(gw.metrics.render(), media_type=gw.metrics.content_type)


OPS_ROUTES = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/metrics", metrics),
]


# -- public ---------------------------------------------------------------------------


async def voices(request: Request) -> Response:
    gw = gateway_of(request)
    if (refused := refusal(request, gw.settings)) is not None:
        return refused
    try:
        found = await gw.core.voices()
    except EngineUnavailable as exc:
        log.error("engine unavailable: %s", exc)
        return JSONResponse(
            {"error": "engine_unavailable", "message": "the speech engine is not available"}, 503
        )
    return JSONResponse(
        {
            "engine": gw.core.engine.name,
            "sample_rate": gw.core.sample_rate,
            "default": gw.core.default_voice(),
            "voices": [
                {
                    "name": v.name,
                    "languages": list(v.languages),
                    "default_language": v.default_language,
                    "description": v.description,
                }
                for v in found
            ],
            # What is read out as words, per language (SPEC §8); others pass through.
            "normalization": capabilities(),
        }
    )


async def index(request: Request) -> Response:
    page = STATIC_DIR / "index.html"
    if not page.is_file():
        return JSONResponse({"service": "voxgate", "docs": "see README.md"})
    return FileResponse(str(page), media_type="text/html")


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every HTTP response (pure ASGI: WebSockets untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    settings: Settings | None = None,
    core: SpeechCore | None = None,
    *,
    listeners: Listeners | None = None,
) -> Starlette:
    settings = (settings or Settings()).validate()
    for warning in settings.warnings():
        log.warning("unsafe configuration: %s", warning)
    gw = Gateway(settings, core)
    listeners = listeners or Listeners()
    ops_app: Starlette | None = None
    if settings.ops_port:
        ops_app = Starlette(routes=list(OPS_ROUTES))
        ops_app.state.gateway = gw

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gw.core.start()
        gw.call_events.start()
        ops_server = None
        try:
            if gw.cluster is not None:
                gw.cluster.start()
                await gw.cluster.joined()
            await start_tcp_carriers(gw, listeners)
            if ops_app is not None:
                sock = listeners.ops or bind(settings.ops_host, settings.ops_port)
                ops_server = await start_ops_server(ops_app, settings, sock)
            yield
        finally:
            if ops_server is not None:
                server, task = ops_server
                server.should_exit = True
                with contextlib.suppress(Exception):
                    await task
            await shutdown(gw)

    # With an operations port, readiness and metrics are served there only.
    public_ops = [r for r in OPS_ROUTES if ops_app is None or r.path == "/healthz"]
    routes: list[BaseRoute] = [
        Route("/", index),
        *public_ops,
        Route("/v1/voices", voices),
        WebSocketRoute("/v1/speak", speak),
        WebSocketRoute("/v1/calls", calls_feed),
        WebSocketRoute("/internal/bridge", bridge_in),  # replicas only: signed (gateway.speak)
        *carrier_routes(),  # /twilio, /telnyx, ...: one per WebSocket carrier
        *voice_routes(),
        *dialect_routes(),
    ]
    if STATIC_DIR.is_dir():
        routes.append(Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(DrainGate, gateway=gw)
    app.add_middleware(SecurityHeaders)
    app.state.gateway = gw
    return app


async def shutdown(gw: Gateway) -> None:
    """Close every session with a close frame and hang up every call."""
    for session in list(gw.sessions):
        with contextlib.suppress(Exception):
            await session.emit(
                {"type": "error", "code": "shutting_down", "message": "server is shutting down"}
            )
            session.end_reason = "server_shutdown"
            await session.close(1001, "server shutting down")
    for call in gw.calls.all():
        await gw.calls.hang_up(call, "server_shutdown")
    await stop_tcp_carriers(gw)
    if gw.cluster is not None:  # after the hang-ups: their ends are published, then it leaves
        await gw.cluster.aclose()
    await gw.call_events.aclose()
    gw.segmentation.close()
    if gw.owns_core:
        await gw.core.aclose()
