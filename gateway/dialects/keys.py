"""API keys the way each vendor's clients send them; each key is still a tenant.

OpenAI clients send `Authorization: Bearer <key>`, ElevenLabs clients an
`xi-api-key` header (or `xi_api_key` in the first WebSocket message), Deepgram
clients `Authorization: Token <key>` (browsers: the `token, <key>`
subprotocol pair). Whatever the way, the key is checked against
`VOXGATE_API_KEYS` in constant time and becomes the same tenant label
`gateway.auth` gives it, so limits and fair scheduling see one tenant per key
across every door. A key is never logged or echoed.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from ..auth import offered_subprotocols, presented_key, tenant_for_key

__all__ = ["authorization_key", "deepgram_subprotocol_key", "tenant_for_key"]


def authorization_key(conn: HTTPConnection) -> str | None:
    """`Authorization: Bearer|Token <key>`, then voxgate's own ways (`token`, subprotocol)."""
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return presented_key(conn)


def deepgram_subprotocol_key(conn: HTTPConnection) -> str | None:
    """Deepgram's browser form: subprotocols `token` and the key itself."""
    offered = offered_subprotocols(conn)
    if len(offered) == 2 and offered[0].lower() == "token":
        return offered[1]
    return None
