"""The `/v1/speak` session endpoints: from a client, and from another replica.

`GET /v1/speak` checks the origin and the API key, then serves a
`SpeakSession`. With Redis, a session that attaches to a call this replica
does not hold is bridged to the replica that does (`gateway.cluster.bridge`):
this replica keeps the client's socket (and counts it against its own session
and tenant limits) and proxies every message to the owner, where the same
session runs over `/internal/bridge`, the route below. That route takes no
API key and no browser: only a request signed with the cluster secret
(`gateway.cluster.signing`) is let in, and it carries the tenant this replica
authenticated, so the owner applies the very limits a local attach gets. A
session that came over a bridge is never bridged again.
"""

from __future__ import annotations

import logging
import time

from starlette.websockets import WebSocket

from .auth import accepted_subprotocol, origin_allowed, tenant_of
from .cluster.bridge import bridge_out
from .protocol import ProtocolError, parse_settings
from .session import CallElsewhere, SessionEnded, SpeakSession
from .state import Gateway, gateway_of

log = logging.getLogger(__name__)

REFUSALS = {
    "over_capacity": "server is at capacity",
    "tenant_over_capacity": "this API key has too many sessions open",
}


async def speak(ws: WebSocket) -> None:
    gw = gateway_of(ws)
    if not origin_allowed(ws, gw.settings):
        gw.metrics.errors.labels(code="forbidden_origin").inc()
        await ws.close(code=1008, reason="origin not allowed")  # before accept: HTTP 403
        return
    tenant = tenant_of(ws, gw.settings)
    if tenant is None:
        await ws.close(code=1008, reason="missing or invalid API key")
        return
    query = {k: v for k, v in ws.query_params.items() if k != "token"}
    await serve_session(ws, gw, query, tenant)


async def bridge_in(ws: WebSocket) -> None:
    """`/internal/bridge`: an attach another replica received for a call held here."""
    gw = gateway_of(ws)
    cluster = gw.cluster
    if cluster is None:
        await ws.close(code=1008, reason="no cluster")  # before accept: HTTP 403
        return
    target = ws.url.path + (f"?{ws.url.query}" if ws.url.query else "")
    verdict = cluster.verifier.verify(ws.headers, target)
    client = ws.client.host if ws.client else ""
    if isinstance(verdict, str):
        gw.metrics.errors.labels(code="bad_bridge_signature").inc()
        log.warning("bridge refused: %s", verdict, extra={"client": client})
        await ws.close(code=1008, reason="not signed by a replica")
        return
    query = dict(ws.query_params)
    if not (query.get("call") or query.get("session")):
        await ws.close(code=1008, reason="a bridge attaches to a call")
        return
    gw.metrics.bridges.labels(direction="in").inc()
    await serve_session(ws, gw, query, verdict.tenant, bridged_from=verdict.sender)


async def serve_session(
    ws: WebSocket, gw: Gateway, query: dict[str, str], tenant: str, *, bridged_from: str = ""
) -> None:
    """Accept and serve one session, under every limit, wherever it came from."""
    await ws.accept(subprotocol=accepted_subprotocol(ws))
    if len(gw.sessions) >= gw.settings.max_sessions:
        await _refuse(ws, gw, "over_capacity", REFUSALS["over_capacity"])
        return
    try:
        settings = parse_settings(query, gw.default_speak_settings())
    except ProtocolError as exc:
        gw.metrics.errors.labels(code=exc.code).inc()
        await ws.send_json(exc.event())
        await ws.close(code=1008, reason=exc.code)
        return
    session = SpeakSession(ws, gw, settings, tenant, bridged=bool(bridged_from))
    if ws.client:
        session.log_extra["client"] = ws.client.host
    if bridged_from:
        session.log_extra["bridged_from"] = bridged_from
    if (refused := gw.admit(session, tenant, session.queued_count)) is not None:
        await _refuse(ws, gw, refused, REFUSALS[refused])
        return
    try:
        try:
            await session.start()
        except ProtocolError as exc:
            await session.error(exc)
            session.end_reason = exc.code
            await session.close(1008, exc.code)
            return
        except SessionEnded:
            return
        await session.run()
    except CallElsewhere as elsewhere:
        await session.aclose()
        session.end_reason = await bridge_out(ws, gw, elsewhere.owner, session.settings, tenant,
                                              session.log_extra)  # fmt: skip
    except Exception:
        log.exception("session failed", extra=session.log_extra)
        session.end_reason = "internal_error"
        await session.emit({"type": "error", "code": "internal", "message": "internal error"})
        await session.close(1011)
    finally:
        await session.aclose()
        gw.leave(session, tenant)
        log.info(
            "session ended",
            extra=session.log_extra
            | {
                "reason": session.end_reason,
                "duration_s": round(time.monotonic() - session.started_at, 3),
            },
        )


async def _refuse(ws: WebSocket, gw: Gateway, code: str, message: str) -> None:
    gw.metrics.errors.labels(code=code).inc()
    await ws.send_json({"type": "error", "code": code, "message": message})
    await ws.close(code=1013, reason=code.replace("_", " "))
