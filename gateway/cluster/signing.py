"""Signatures on replica-to-replica bridge requests: only another replica may open one.

A bridge request is a WebSocket upgrade to `/internal/bridge` on the replica
that holds a call. It carries the attach settings in its query string, and
the tenant the receiving replica already authenticated in a header, so the
owner must be sure that both came from a replica and not from a client: the
request is signed with HMAC-SHA256 under `VOXGATE_CLUSTER_SECRET`, a key the
replicas share and clients never see (it is refused when it equals one of the
public API keys). The signature covers a version tag, the time, a random
nonce, the tenant, the sending replica and the exact path and query; the owner
accepts it within `MAX_SKEW_S` of its own clock and only once (the nonce is
remembered for that window), so a captured request cannot be replayed or
altered. Neither the secret nor a signature is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

VERSION = "voxgate-bridge-v1"
MAX_SKEW_S = 30.0
MAX_NONCES = 100_000  # bridges remembered within the window; more are refused, not forgotten

H_TIME = "x-voxgate-bridge-time"
H_NONCE = "x-voxgate-bridge-nonce"
H_TENANT = "x-voxgate-bridge-tenant"
H_FROM = "x-voxgate-bridge-from"
H_SIGNATURE = "x-voxgate-bridge-signature"

_NONCE = re.compile(r"[0-9a-f]{32}")
_TENANT = re.compile(r"open|t-[0-9a-f]{10}")
_REPLICA = re.compile(r"[0-9a-f]{12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def _digest(secret: str, fields: tuple[str, ...]) -> str:
    payload = "\n".join((VERSION, *fields)).encode("utf-8", "surrogatepass")
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def sign(
    secret: str, target: str, tenant: str, sender: str, *, now: float | None = None
) -> dict[str, str]:
    """The headers that authenticate a bridge request for `target` (its path and query)."""
    stamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    signature = _digest(secret, (stamp, nonce, tenant, sender, target))
    return {H_TIME: stamp, H_NONCE: nonce, H_TENANT: tenant, H_FROM: sender, H_SIGNATURE: signature}


@dataclass(frozen=True)
class Verified:
    tenant: str
    sender: str


class BridgeVerifier:
    """Checks bridge signatures and remembers nonces for the skew window."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._seen: dict[str, float] = {}

    def _forget_old(self, now: float) -> None:
        if len(self._seen) < MAX_NONCES // 2:
            return
        self._seen = {n: t for n, t in self._seen.items() if t > now}

    def verify(
        self, headers: Mapping[str, str], target: str, *, now: float | None = None
    ) -> Verified | str:
        """The tenant and sender when the request is genuine, else why not (for the log)."""
        now = time.time() if now is None else now
        stamp, nonce = headers.get(H_TIME, ""), headers.get(H_NONCE, "")
        tenant, sender = headers.get(H_TENANT, ""), headers.get(H_FROM, "")
        signature = headers.get(H_SIGNATURE, "")
        if not signature:
            return "unsigned"
        if not (
            stamp.isdigit()
            and _NONCE.fullmatch(nonce)
            and _TENANT.fullmatch(tenant)
            and _REPLICA.fullmatch(sender)
            and _SIGNATURE.fullmatch(signature)
        ):
            return "malformed signature headers"
        expected = _digest(self._secret, (stamp, nonce, tenant, sender, target))
        if not hmac.compare_digest(expected, signature):
            return "bad signature"
        if abs(now - int(stamp)) > MAX_SKEW_S:
            return "stale signature"
        self._forget_old(now)
        if nonce in self._seen:
            return "replayed signature"
        if len(self._seen) >= MAX_NONCES:
            return "too many bridges in the window"
        self._seen[nonce] = now + 2 * MAX_SKEW_S
        return Verified(tenant, sender)
