"""What this replica knows of the other replicas' calls, for its `/v1/calls` subscribers.

Two sources feed it: the channel (each `call_started` / `call_ended` as it
happens) and the heartbeat's read of every replica's call list in Redis
(`resync`), which catches what the channel missed (an outage, a late
subscriber) and what no event will ever say: a replica that died. A call
that vanished from the lists is announced ended, with reason `replica_lost`
when its replica's heartbeat is gone too. Three rules keep the two sources
from contradicting each other:

* a call heard on the channel after a read began is not judged by that read;
* an ended call is not brought back by a read that predates its end
  (it is remembered for `TOMBSTONE_S`);
* for a TTL after Redis lost its data, a call missing from the lists is not
  ended: every replica re-publishes its calls within its next heartbeats.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..metrics import Metrics

TOMBSTONE_S = 120.0


@dataclass
class _Remote:
    replica: str
    event: dict[str, Any]
    seen_at: float = field(default_factory=time.monotonic)


class OtherReplicas:
    """The other replicas' live calls, as last heard; `emit` gets every change."""

    def __init__(
        self, replica: str, metrics: Metrics, emit: Callable[[dict[str, Any]], None]
    ) -> None:
        self.replica = replica
        self.metrics = metrics
        self._emit = emit
        self._calls: dict[str, _Remote] = {}
        self._ended: dict[str, float] = {}
        self._settle_until = 0.0

    def events(self) -> list[dict[str, Any]]:
        return [r.event for r in self._calls.values()]

    def settle_until(self, until: float) -> None:
        """Redis lost its data (or this replica was away): wait for re-publication."""
        self._settle_until = until

    def _started(self, replica: str, event: dict[str, Any]) -> None:
        call = event["call"]
        if call in self._calls or call in self._ended:
            return
        self._calls[call] = _Remote(replica, event)
        self.metrics.remote_calls.set(len(self._calls))
        self._emit(event)

    def _ended_now(self, event: dict[str, Any]) -> None:
        call = event["call"]
        self._ended[call] = time.monotonic() + TOMBSTONE_S
        if self._calls.pop(call, None) is not None:
            self.metrics.remote_calls.set(len(self._calls))
            self._emit(event)

    def heard(self, raw: str) -> None:
        """One message from the channel (ours, and malformed ones, are ignored)."""
        try:
            body = json.loads(raw)
            replica, event = body["r"], body["e"]
            kind, call = event["type"], event["call"]
        except (ValueError, KeyError, TypeError):
            return
        if replica == self.replica or not isinstance(call, str):
            return
        if kind == "call_started":
            self._started(replica, event)
        elif kind == "call_ended":
            self._ended_now(event)

    def resync(self, others: dict[str, dict[str, str]], read_at: float) -> None:
        """Apply a read of every other live replica's call list, begun at `read_at`."""
        now = time.monotonic()
        self._ended = {k: t for k, t in self._ended.items() if t > now}
        seen: dict[str, tuple[str, dict[str, Any]]] = {}
        for replica, calls in others.items():
            for raw in calls.values():
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    event = json.loads(raw)
                    if event.get("type") == "call_started" and isinstance(event["call"], str):
                        seen[event["call"]] = (replica, event)
        settling = read_at < self._settle_until
        for call, remote in list(self._calls.items()):
            if call in seen or remote.seen_at >= read_at or settling:
                continue
            started = remote.event
            reason = "replica_lost" if remote.replica not in others else "ended"
            duration = max(0.0, time.time() - float(started.get("at") or time.time()))
            self._ended_now(
                {"type": "call_ended", "call": call, "carrier": started.get("carrier"),
                 "reason": reason, "duration_s": round(duration, 3),
                 "at": round(time.time(), 3)}
            )  # fmt: skip
        for replica, event in seen.values():
            self._started(replica, event)
