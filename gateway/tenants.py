"""Per-tenant admission: how many sessions and queued sentences one API key may hold.

The process-wide limits (`max_sessions`, the engine's capacity) protect the
machine; these protect tenants from each other. With API keys configured,
each key is a tenant and may hold at most `tenant_max_sessions` sessions and
`tenant_max_queued_sentences` sentences waiting for the engine across all of
them, so thirty sessions of a noisy tenant cannot fill the gateway for
everyone. An open gateway (no keys) has one tenant, bounded by the global
limits alone. Engine time is shared between tenants by the speech core's
scheduler; this module only decides what is let in.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import Settings

QueuedCount = Callable[[], int]


class Tenants:
    def __init__(self, settings: Settings) -> None:
        self.enforced = bool(settings.api_key_set)
        self.max_sessions = settings.tenant_max_sessions
        self.max_queued = settings.tenant_max_queued_sentences
        self._sessions: dict[str, dict[int, QueuedCount]] = {}

    def sessions(self, tenant: str) -> int:
        return len(self._sessions.get(tenant, {}))

    def admit(self, tenant: str, token: int, queued: QueuedCount) -> bool:
        """Count a new session (`token` identifies it); False when the tenant is at its cap."""
        held = self._sessions.setdefault(tenant, {})
        if self.enforced and len(held) >= self.max_sessions:
            if not held:
                del self._sessions[tenant]
            return False
        held[token] = queued
        return True

    def leave(self, tenant: str, token: int) -> None:
        held = self._sessions.get(tenant)
        if held is not None:
            held.pop(token, None)
            if not held:
                del self._sessions[tenant]

    def room(self, tenant: str) -> int:
        """Sentences this tenant may still queue (unbounded without API keys)."""
        if not self.enforced:
            return 1 << 30
        waiting = sum(count() for count in self._sessions.get(tenant, {}).values())
        return max(0, self.max_queued - waiting)
