"""Who may connect: API keys for `/v1/*`, Twilio request signatures for `/twilio`."""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse

from .config import Settings


def presented_key(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return conn.query_params.get("token")


def authorized(conn: HTTPConnection, settings: Settings) -> bool:
    keys = settings.api_key_set
    if not keys:
        return True
    key = presented_key(conn)
    # Compare against every key in constant time so timing reveals nothing.
    return key is not None and any(hmac.compare_digest(key, k) for k in keys)


def deny() -> JSONResponse:
    return JSONResponse(
        {"error": "unauthorized", "message": "missing or invalid API key"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def twilio_signature(auth_token: str, url: str, params: dict[str, str] | None = None) -> str:
    """Twilio's scheme: base64(HMAC-SHA1(token, url + sorted POST key/values))."""
    payload = url + "".join(k + v for k, v in sorted((params or {}).items()))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_urls(conn: HTTPConnection, public_url: str) -> list[str]:
    """URLs Twilio may have signed for this upgrade (behind a proxy the scheme/host differ)."""
    path = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
    if public_url:
        return [public_url.rstrip("/") + path]
    host = conn.headers.get("x-forwarded-host") or conn.headers.get("host", "")
    proto = conn.headers.get("x-forwarded-proto")
    schemes = [proto] if proto else ["wss", "ws", "https"]
    return [f"{scheme}://{host}{path}" for scheme in schemes]


def valid_twilio_signature(conn: HTTPConnection, settings: Settings) -> bool:
    token = settings.twilio_auth_token
    if not token:
        return True
    signature = conn.headers.get("x-twilio-signature", "")
    return any(
        hmac.compare_digest(signature, twilio_signature(token, url))
        for url in signed_urls(conn, settings.public_url)
    )
