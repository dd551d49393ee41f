"""Transport drivers: one for WebSocket carriers, one for TCP carriers, each runs any codec.

Which carriers exist is the `telephony.carriers` registry's business; this
package turns it into what the app serves: a WebSocket route at `/<name>` for
every WebSocket carrier, and a TCP listener for every TCP carrier whose port
is configured (`VOXGATE_<NAME>_PORT`).
"""

from __future__ import annotations

from starlette.routing import WebSocketRoute

from telephony.carriers import carrier, names

from ..state import Gateway, Listeners
from .tcp import TcpCarrierServer
from .websocket import carrier_endpoint

__all__ = ["carrier_routes", "start_tcp_carriers", "stop_tcp_carriers"]


def carrier_routes() -> list[WebSocketRoute]:
    """`/<name>` for every WebSocket carrier in the registry."""
    return [
        WebSocketRoute(f"/{name}", carrier_endpoint(carrier(name)))
        for name in names()
        if carrier(name).transport == "websocket"
    ]


async def start_tcp_carriers(gw: Gateway, listeners: Listeners) -> None:
    """Start a listener for every TCP carrier with a port (0 turns one off)."""
    for name in names():
        codec = carrier(name)
        if codec.transport != "tcp" or not getattr(gw.settings, f"{name}_port", 0):
            continue
        server = TcpCarrierServer(gw, codec)
        await server.start(getattr(listeners, name, None))
        gw.tcp[name] = server


async def stop_tcp_carriers(gw: Gateway) -> None:
    for name, server in list(gw.tcp.items()):
        await server.stop()
        del gw.tcp[name]
