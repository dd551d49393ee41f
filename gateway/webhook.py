"""`VOXGATE_CALL_WEBHOOK`: call events POSTed to the application, signed, retried, never blocking.

Each event is the same JSON `/v1/calls` streams, sent as the request body with
`X-Voxgate-Signature: sha256=<hex HMAC-SHA256 of the body>` keyed with
`VOXGATE_CALL_WEBHOOK_SECRET`, so the receiver can check it came from this
gateway (compare in constant time over the raw body; the body carries `at`,
the event's Unix time, to refuse replays). Delivery runs in one background
task, in order: a call never waits for it. A failed attempt (connection error,
timeout, 408, 429, 5xx) is retried with exponential backoff; any other 4xx is
the receiver refusing the event and is not retried. The queue is bounded:
when the receiver is down for long, the oldest events are dropped (and
counted) rather than held without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections import deque
from typing import Any

import httpx

from .metrics import Metrics
from .protocol import clip

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Voxgate-Signature"
RETRIED_STATUSES = frozenset({408, 429})


def signature(secret: str, body: bytes) -> str:
    """The `X-Voxgate-Signature` value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """Posts events to one URL from a background task (see the module docstring)."""

    def __init__(
        self,
        url: str,
        secret: str,
        metrics: Metrics,
        *,
        attempts: int = 5,
        first_delay_s: float = 0.5,
        timeout_s: float = 5.0,
        max_queued: int = 1000,
    ) -> None:
        self.url = url
        self._secret = secret
        self._metrics = metrics
        self.attempts = attempts
        self.first_delay_s = first_delay_s
        self.timeout_s = timeout_s
        self._queue: deque[dict[str, Any]] = deque(maxlen=max_queued)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def offer(self, event: dict[str, Any]) -> None:
        """Queue an event; never waits (the oldest goes when the queue is full)."""
        if len(self._queue) == self._queue.maxlen:
            self._metrics.webhooks.labels(outcome="dropped").inc()
        self._queue.append(event)
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="call-webhook")

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:
            while True:
                while not self._queue:
                    self._idle.set()
                    self._wake.clear()
                    await self._wake.wait()
                await self._deliver(client, self._queue.popleft())

    async def _deliver(self, client: httpx.AsyncClient, event: dict[str, Any]) -> None:
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, body),
            "x-voxgate-event": str(event.get("type", "")),
        }
        delay = self.first_delay_s
        for attempt in range(1, self.attempts + 1):
            problem = ""
            try:
                response = await client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            else:
                status = response.status_code
                if 200 <= status < 300:
                    self._metrics.webhooks.labels(outcome="delivered").inc()
                    return
                problem = f"HTTP {status}"
                if 400 <= status < 500 and status not in RETRIED_STATUSES:
                    break  # the receiver refused this event: sending it again will not help
            if attempt < self.attempts:
                self._metrics.webhooks.labels(outcome="retried").inc()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self._metrics.webhooks.labels(outcome="failed").inc()
        log.warning(
            "call webhook gave up on %s for call %s: %s",
            event.get("type"),
            clip(event.get("call"), 80),
            problem,
        )

    async def aclose(self, drain_s: float = 2.0) -> None:
        """Give queued events a moment to go out, then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_s):
                await self._idle.wait()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._task = None
