"""Who may connect: API keys (each key a tenant), browser origins, carrier legs.

Keys are accepted the three ways clients can send them: an `Authorization:
Bearer` header (servers and SDKs), a `token` query parameter (tools that can
set nothing else), or a WebSocket subprotocol `voxgate.key.<base64url(key)>`
next to `voxgate` (browsers, which cannot set headers on a WebSocket and
should not put secrets in URLs). A key is never logged: tenants are known by a
label derived from a hash of their key.

Browsers send `Origin` on every WebSocket handshake and cross-site requests;
servers and SDKs send none. A page on another site must not drive a caller's
gateway from its visitors' browsers, so only the gateway's own origin and those
listed in `VOXGATE_ALLOWED_ORIGINS` are let in; requests without an Origin are
unaffected.

Carrier legs authenticate the way each carrier's docs allow: Twilio by its
`X-Twilio-Signature` (with `VOXGATE_TWILIO_AUTH_TOKEN`), every carrier by the
shared `VOXGATE_CARRIER_TOKEN`, presented as a bearer header, the password of
HTTP basic auth (Asterisk's websocket_client.conf, Exotel's URL credentials),
a header the carrier documents for it (Telnyx's streaming auth token), a
`token` query parameter, or a `token` custom parameter in the call's start
message (TwiML `<Parameter>`, Plivo extra headers, Vonage headers): those are
only known once the start arrives, so the check waits for it, and the call is
refused before it is registered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Literal
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse

from .config import Settings

SUBPROTOCOL = "voxgate"
KEY_SUBPROTOCOL_PREFIX = "voxgate.key."
OPEN_TENANT = "open"  # every client, when no API keys are configured


def _same(a: str, b: str) -> bool:
    """Constant-time equality for any strings (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def offered_subprotocols(conn: HTTPConnection) -> list[str]:
    header = conn.headers.get("sec-websocket-protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


def _key_from_subprotocol(conn: HTTPConnection) -> str | None:
    for proto in offered_subprotocols(conn):
        if proto.startswith(KEY_SUBPROTOCOL_PREFIX):
            encoded = proto[len(KEY_SUBPROTOCOL_PREFIX) :]
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (binascii.Error, ValueError):
                return ""  # presented, but not a key: fails like a wrong one
    return None


def presented_key(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    token = conn.query_params.get("token")
    if token is not None:
        return token
    return _key_from_subprotocol(conn)


def tenant_label(key: str) -> str:
    """A stable, non-reversible name for the tenant behind `key` (for logs and metrics)."""
    return "t-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def tenant_for_key(key: str | None, settings: Settings) -> str | None:
    """The tenant behind `key`, or None when it is missing or wrong (open gateway: everyone)."""
    keys = settings.api_key_set
    if not keys:
        return OPEN_TENANT
    if key is None:
        return None
    # Compare against every key in constant time so timing reveals nothing.
    matches = [k for k in keys if _same(key, k)]
    return tenant_label(matches[0]) if matches else None


def tenant_of(conn: HTTPConnection, settings: Settings) -> str | None:
    """The tenant this connection speaks for, or None when its key is missing or wrong."""
    return tenant_for_key(presented_key(conn), settings)


def accepted_subprotocol(conn: HTTPConnection) -> str | None:
    """The subprotocol to answer with: `voxgate` if offered (never the one carrying the key)."""
    return SUBPROTOCOL if SUBPROTOCOL in offered_subprotocols(conn) else None


def deny() -> JSONResponse:
    return JSONResponse(
        {"error": "unauthorized", "message": "missing or invalid API key"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


# -- browser origins -------------------------------------------------------------


def _origin_of(url: str) -> str:
    parts = urlsplit(url.strip())
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
    return f"{scheme}://{parts.netloc.lower()}" if parts.netloc else ""


def origin_allowed(conn: HTTPConnection, settings: Settings) -> bool:
    """True for non-browser clients, the gateway's own pages, and configured origins."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    allowed = settings.allowed_origin_set
    if "*" in allowed:
        return True
    own = urlsplit(origin.strip()).netloc.lower()
    if own and own == conn.headers.get("host", "").lower():
        return True
    candidate = _origin_of(origin)
    if settings.public_url and candidate == _origin_of(settings.public_url):
        return True
    return bool(candidate) and candidate in {_origin_of(o) for o in allowed}


def forbidden_origin() -> JSONResponse:
    return JSONResponse(
        {"error": "forbidden_origin", "message": "this origin may not use the gateway"},
        status_code=403,
    )


# -- Twilio ---------------------------------------------------------------------------


def twilio_signature(auth_token: str, url: str, params: dict[str, str] | None = None) -> str:
    """Twilio's scheme: base64(HMAC-SHA1(token, url + sorted POST key/values))."""
    payload = url + "".join(k + v for k, v in sorted((params or {}).items()))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url(conn: HTTPConnection, public_url: str) -> str:
    """The URL Twilio signed for this upgrade.

    The configured public URL when set (the only trustworthy answer behind a
    proxy). Otherwise the scheme the server saw (uvicorn rewrites it from
    `X-Forwarded-Proto` only for `--forwarded-allow-ips`) and the Host header,
    which a proxy must pass through unchanged; `X-Forwarded-Host` is never
    trusted, since any client can send it.
    """
    path = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
    if public_url:
        return public_url.rstrip("/") + path
    scheme = {"http": "ws", "https": "wss"}.get(conn.url.scheme, conn.url.scheme)
    return f"{scheme}://{conn.headers.get('host', '')}{path}"


def valid_twilio_signature(conn: HTTPConnection, settings: Settings) -> bool:
    token = settings.twilio_auth_token
    if not token:
        return True
    signature = conn.headers.get("x-twilio-signature", "")
    return _same(signature, twilio_signature(token, signed_url(conn, settings.public_url)))


# -- carrier legs ----------------------------------------------------------------------

CarrierVerdict = Literal["ok", "pending", "denied"]


def _basic_password(header: str) -> str | None:
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return ""
    return decoded.partition(":")[2]


def presented_carrier_token(
    conn: HTTPConnection, token_headers: tuple[str, ...] = ()
) -> str | None:
    """The shared secret a carrier leg presents on its upgrade request, if any."""
    header = conn.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if header[:6].lower() == "basic ":
        return _basic_password(header)
    for name in token_headers:
        if (value := conn.headers.get(name)) is not None:
            return value
    return conn.query_params.get("token")


def carrier_token_matches(settings: Settings, presented: str | None) -> bool:
    return presented is not None and _same(presented, settings.carrier_token)


def carrier_upgrade(
    carrier: str, conn: HTTPConnection, settings: Settings, token_headers: tuple[str, ...] = ()
) -> tuple[CarrierVerdict, str]:
    """May this carrier leg open? "pending": only its start message can tell."""
    if carrier == "twilio" and settings.twilio_auth_token:
        if valid_twilio_signature(conn, settings):
            return "ok", ""
        return "denied", "invalid X-Twilio-Signature"
    if not settings.carrier_token:
        return "ok", ""
    presented = presented_carrier_token(conn, token_headers)
    if presented is None:
        return "pending", ""
    if carrier_token_matches(settings, presented):
        return "ok", ""
    return "denied", "invalid carrier token"


def refusal(conn: HTTPConnection, settings: Settings) -> JSONResponse | None:
    """The answer to an HTTP request from a foreign origin or without a valid key, else None."""
    if not origin_allowed(conn, settings):
        return forbidden_origin()
    if tenant_of(conn, settings) is None:
        return deny()
    return None
