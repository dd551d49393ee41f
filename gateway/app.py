"""The Starlette application: routes, lifespan, and the process-wide `Gateway` state."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from tts_core import AudioCache, EngineUnavailable, SpeechCore, create_engine

from .audiosocket_server import AudioSocketServer
from .auth import authorized, deny
from .calls import CallRegistry
from .config import Settings
from .metrics import Metrics
from .protocol import ProtocolError, SpeakSettings, parse_settings
from .session import SpeakSession
from .twilio_ws import twilio_endpoint

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


class Gateway:
    """Everything one gateway process shares: settings, the speech core, calls, metrics."""

    def __init__(self, settings: Settings, core: SpeechCore | None = None) -> None:
        self.settings = settings
        # A core handed in belongs to the caller (tests, embedding): we do not close it.
        self.owns_core = core is None
        if core is None:
            engine = create_engine(settings.engine, **settings.engine_options())
            cache = AudioCache(settings.cache_entries, settings.cache_mb * 1024 * 1024)
            core = SpeechCore(
                engine,
                idle_unload_s=settings.idle_unload_s,
                cache=cache,
                fifo=settings.scheduler == "fifo",
            )
        self.core = core
        self.metrics = Metrics()
        self.calls = CallRegistry()
        self.sessions: set[SpeakSession] = set()
        self.audiosocket: AudioSocketServer | None = None

    def default_speak_settings(self) -> SpeakSettings:
        return SpeakSettings(lead_ms=self.settings.lead_ms)

    def limits(self) -> dict[str, Any]:
        s = self.settings
        return {
            "max_message_bytes": s.max_message_bytes,
            "max_session_chars": s.max_session_chars,
            "max_queued_sentences": s.max_queued_sentences,
            "session_idle_s": s.session_idle_s,
            "sentence_wait_s": s.sentence_wait_s,
        }

    def refresh_gauges(self) -> None:
        self.metrics.sessions.set(len(self.sessions))
        for carrier in ("twilio", "audiosocket"):
            live = sum(1 for c in self.calls.all() if c.carrier == carrier)
            self.metrics.calls.labels(carrier=carrier).set(live)
        self.metrics.queue_depth.set(self.core.queue_depth)
        self.metrics.cache_hits.set(self.core.cache.hits)


def gateway_of(scope_holder: Request | WebSocket) -> Gateway:
    return scope_holder.app.state.gateway


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    gw = gateway_of(request)
    try:
        await gw.core.ensure_loaded()
    except EngineUnavailable as exc:
        return JSONResponse(
            {"status": "unavailable", "engine": gw.core.engine.name, "error": str(exc)},
            status_code=503,
        )
    return JSONResponse(
        {"status": "ready", "engine": gw.core.engine.name, "loaded": gw.core.loaded}
    )


async def metrics(request: Request) -> Response:
    gw = gateway_of(request)
    gw.refresh_gauges()
    return Response(gw.metrics.render(), media_type=gw.metrics.content_type)


async def voices(request: Request) -> Response:
    gw = gateway_of(request)
    if not authorized(request, gw.settings):
        return deny()
    try:
        found = await gw.core.voices()
    except EngineUnavailable as exc:
        return JSONResponse({"error": "engine_unavailable", "message": str(exc)}, 503)
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
        }
    )


async def index(request: Request) -> Response:
    page = STATIC_DIR / "index.html"
    if not page.is_file():
        return JSONResponse({"service": "voxgate", "docs": "see README.md"})
    return FileResponse(str(page), media_type="text/html")


async def speak(ws: WebSocket) -> None:
    gw = gateway_of(ws)
    if not authorized(ws, gw.settings):
        await ws.close(code=1008, reason="missing or invalid API key")
        return
    await ws.accept()
    if len(gw.sessions) >= gw.settings.max_sessions:
        await ws.send_json(
            {"type": "error", "code": "over_capacity", "message": "server is at capacity"}
        )
        gw.metrics.errors.labels(code="over_capacity").inc()
        await ws.close(code=1013, reason="over capacity")
        return
    query = {k: v for k, v in ws.query_params.items() if k != "token"}
    try:
        settings = parse_settings(query, gw.default_speak_settings())
    except ProtocolError as exc:
        gw.metrics.errors.labels(code=exc.code).inc()
        await ws.send_json(exc.event())
        await ws.close(code=1008, reason=exc.code)
        return
    session = SpeakSession(ws, gw, settings)
    gw.sessions.add(session)
    gw.refresh_gauges()
    try:
        try:
            await session.start()
        except ProtocolError as exc:
            await session.error(exc)
            await ws.close(code=1008, reason=exc.code)
            return
        await session.run()
    except Exception:
        log.exception("session failed", extra=session.log_extra)
        with contextlib.suppress(Exception):
            await session.emit({"type": "error", "code": "internal", "message": "internal error"})
            await ws.close(code=1011)
    finally:
        await session.aclose()
        gw.sessions.discard(session)
        gw.refresh_gauges()


def create_app(settings: Settings | None = None, core: SpeechCore | None = None) -> Starlette:
    settings = (settings or Settings()).validate()
    gw = Gateway(settings, core)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gw.core.start()
        if settings.audiosocket_port:
            gw.audiosocket = AudioSocketServer(gw)
            await gw.audiosocket.start(settings.audiosocket_host, settings.audiosocket_port)
        try:
            yield
        finally:
            await shutdown(gw)

    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/v1/voices", voices),
        WebSocketRoute("/v1/speak", speak),
        WebSocketRoute("/twilio", twilio_endpoint),
    ]
    if STATIC_DIR.is_dir():
        routes.append(Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static"))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.gateway = gw
    return app


async def shutdown(gw: Gateway) -> None:
    """Close every session with a close frame and hang up every call."""
    for session in list(gw.sessions):
        with contextlib.suppress(Exception):
            await session.emit(
                {"type": "error", "code": "shutting_down", "message": "server is shutting down"}
            )
            await session.ws.close(code=1001, reason="server shutting down")
    for call in gw.calls.all():
        with contextlib.suppress(Exception):
            await call.leg.hangup()
        await gw.calls.end(call, "server_shutdown")
    if gw.audiosocket is not None:
        await gw.audiosocket.stop()
    if gw.owns_core:
        await gw.core.aclose()
