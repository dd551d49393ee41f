"""Call arrivals and endings, for the application: `/v1/calls` subscribers and the webhook.

The call registry publishes `call_started` when a call becomes attachable and
`call_ended` when it is over; each event is fanned out here without waiting:
every `/v1/calls` subscriber has a bounded queue (one that stops reading is
told so and dropped, it never slows a call down) and the webhook, when
configured, queues it for delivery (`gateway.webhook`). With Redis, the
other replicas' events reach the subscribers here too, but not the webhook:
each call's own replica sends it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .config import Settings
from .metrics import Metrics
from .webhook import WebhookSender

SUBSCRIBER_QUEUE = 256  # events a /v1/calls subscriber may leave unread before it is dropped


class Subscriber:
    """One `/v1/calls` socket's queue of events."""

    def __init__(self, maxsize: int = SUBSCRIBER_QUEUE) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.overflowed = asyncio.Event()

    def offer(self, event: dict[str, Any]) -> None:
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed.set()


class CallEvents:
    """The fan-out (see the module docstring)."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._subscribers: set[Subscriber] = set()
        self.webhook: WebhookSender | None = None
        if settings.call_webhook:
            self.webhook = WebhookSender(
                settings.call_webhook, settings.call_webhook_secret, metrics
            )

    def __len__(self) -> int:
        return len(self._subscribers)

    def publish(self, event: dict[str, Any]) -> None:
        for subscriber in list(self._subscribers):
            subscriber.offer(event)
        if self.webhook is not None:
            self.webhook.offer(event)

    def publish_remote(self, event: dict[str, Any]) -> None:
        """Another replica's call event: to this replica's subscribers only (the owner's
        webhook already sends it, once)."""
        for subscriber in list(self._subscribers):
            subscriber.offer(event)

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def start(self) -> None:
        if self.webhook is not None:
            self.webhook.start()

    async def aclose(self) -> None:
        if self.webhook is not None:
            await self.webhook.aclose()
