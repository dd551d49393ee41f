"""The process-wide gateway state: settings, the speech core, calls, sessions, metrics.

Every endpoint and driver reads this; this module imports none of them (the
`tests/test_gateway_imports.py` check), so state flows one way: `app` wires
endpoints to a `Gateway`, endpoints use it, and nothing here needs to know
which endpoints exist. Sessions and listeners are held as plain objects for
the same reason.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import HTTPConnection

from telephony.carriers import names as carrier_names
from tts_core import AudioCache, SpeechCore, create_engine

from .call_events import CallEvents
from .calls import Call, CallRegistry
from .config import Settings
from .metrics import Metrics
from .protocol import SpeakSettings
from .segment_worker import SegmentationWorker
from .tenants import Tenants

if TYPE_CHECKING:
    from .cluster.replica import Cluster


class Listener(Protocol):
    """A running TCP carrier listener (`gateway.drivers.tcp`)."""

    @property
    def port(self) -> int: ...

    async def pause(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Listeners:
    """Sockets bound before the server starts (so a busy port is a clean error, not a trace)."""

    audiosocket: socket.socket | None = None
    ops: socket.socket | None = None


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
                piece_s=settings.render_piece_ms / 1000,
            )
        self.core = core
        self.metrics = Metrics()
        stats = getattr(core.engine, "stats", None)
        if callable(stats):
            self.metrics.watch_engine(stats)
        self.call_events = CallEvents(settings, self.metrics)
        self.calls = CallRegistry(on_event=self._call_event)
        self.cluster: Cluster | None = None  # with Redis: the replicas that share calls
        if settings.redis_url:
            from .cluster.replica import Cluster  # the Redis client loads only when configured

            self.cluster = Cluster(
                settings,
                self.metrics,
                draining=lambda: self.draining,
                on_remote_event=self.call_events.publish_remote,
                lose_call=self._lose_call,
            )
        # SIGTERM: no new calls or sessions, /readyz 503; live calls go on (`gateway.drain`).
        self.draining = False
        self.sessions: set[Any] = set()  # the live `/v1/speak` sessions
        self.tenants = Tenants(settings)
        self.segmentation = SegmentationWorker()
        self.tcp: dict[str, Listener] = {}  # running TCP carrier listeners by carrier name
        self._cache_hits_seen = 0
        self._pieces_seen = 0

    def _call_event(self, event: dict[str, Any], call: Call) -> None:
        self.call_events.publish(event)
        if self.cluster is not None:
            self.cluster.local_event(event, call)

    async def _lose_call(self, call: Call) -> None:
        """An older call on another replica holds one of this call's ids: it ends here."""
        await self.calls.hang_up(call, "call_id_taken")
        self.refresh_gauges()

    def live_call_events(self) -> list[dict[str, Any]]:
        """`call_started` of every live call: this replica's, then the other replicas'."""
        events = [call.started_event() for call in self.calls.all()]
        if self.cluster is not None:
            events += self.cluster.remote_events()
        return events

    @property
    def audiosocket(self) -> Listener | None:
        return self.tcp.get("audiosocket")

    def default_speak_settings(self) -> SpeakSettings:
        return SpeakSettings(lead_ms=self.settings.lead_ms)

    def limits(self) -> dict[str, Any]:
        s = self.settings
        return {
            "max_message_bytes": s.max_message_bytes,
            "max_session_chars": s.max_session_chars,
            "max_queued_sentences": s.max_queued_sentences,
            "max_pending_marks": s.max_pending_marks,
            "max_sentence_chars": s.max_sentence_chars,
            "session_idle_s": s.session_idle_s,
            "sentence_wait_s": s.sentence_wait_s,
        }

    def admit(self, holder: Any, tenant: str, queued: Callable[[], int]) -> str | None:
        """Count `holder` as a live session of `tenant` (every door's sessions count alike).

        None when admitted; else the refusal's code. `queued` tells the tenant's
        sentence limit what the holder has queued.
        """
        if len(self.sessions) >= self.settings.max_sessions:
            return "over_capacity"
        if not self.tenants.admit(tenant, id(holder), queued):
            return "tenant_over_capacity"
        self.sessions.add(holder)
        self.refresh_gauges()
        return None

    def leave(self, holder: Any, tenant: str) -> None:
        """Give back what `admit` counted."""
        self.sessions.discard(holder)
        self.tenants.leave(tenant, id(holder))
        self.refresh_gauges()

    def refresh_gauges(self) -> None:
        self.metrics.sessions.set(len(self.sessions))
        live = self.calls.all()
        for carrier in carrier_names():
            count = sum(1 for c in live if c.carrier == carrier)
            self.metrics.calls.labels(carrier=carrier).set(count)
        self.metrics.queue_depth.set(self.core.queue_depth)
        self.metrics.engine_busy.set(self.core.scheduler.in_use)
        hits = self.core.stats.cache_hits
        self.metrics.cache_hits.inc(max(0, hits - self._cache_hits_seen))
        self._cache_hits_seen = hits
        pieces = self.core.quantum.pieces
        self.metrics.render_pieces.inc(max(0, pieces - self._pieces_seen))
        self._pieces_seen = pieces


def gateway_of(conn: HTTPConnection) -> Gateway:
    return conn.app.state.gateway
