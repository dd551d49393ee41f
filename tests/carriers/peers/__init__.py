"""Fake carriers, one module per carrier, each written from that carrier's documented messages.

`peer(name)` finds the fake for a registered carrier the way the gateway finds
its codec: by name, `tests/carriers/peers/<name>.py`, class `Peer`. A carrier
added to the registry without a fake here fails `test_every_carrier.py`.
"""

from __future__ import annotations

import importlib
import json
from typing import Any
from urllib.parse import urlencode

import websockets

from .base import FakeCarrier


def peer(name: str) -> type[FakeCarrier]:
    return importlib.import_module(f"tests.carriers.peers.{name}").Peer


class WsCarrier(FakeCarrier):
    """A carrier that opens a WebSocket to `/<name>` (every carrier but AudioSocket)."""

    subprotocols: tuple[str, ...] = ()
    ws: Any = None

    def headers(self) -> dict[str, str]:
        return {}

    def url(self) -> str:
        query = f"?{urlencode(self.query)}" if self.query else ""
        return f"{self.server.ws}/{self.name}{query}"

    async def open(self) -> None:
        self.ws = await websockets.connect(
            self.url(),
            additional_headers=self.headers(),
            subprotocols=list(self.subprotocols) or None,
            max_size=2**22,
        )

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self) -> Any:
        try:
            return await self.ws.recv()
        finally:
            self.close_code = self.ws.close_code

    async def close_transport(self) -> None:
        await self.ws.close()

    async def hang_up_by_closing(self) -> None:
        self.stop_audio()
        await self.ws.close()
