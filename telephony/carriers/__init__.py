"""The carrier registry: one sans-I/O codec module per carrier, found here by name.

Adding a carrier is adding its module (a `CarrierCodec` subclass, see `base`)
and one line below; the gateway serves every WebSocket carrier listed here at
`/<name>` and every TCP one on its own port, and offers each as a `/v1/speak`
output `format`. Modules are imported on first use, so a carrier nobody calls
costs nothing at start-up.
"""

from __future__ import annotations

import importlib
from functools import cache

from telephony.carriers.base import CarrierCodec, CarrierProtocolError

__all__ = ["CarrierCodec", "CarrierProtocolError", "carrier", "names"]

# name (the leg's path, the output format, the `carrier` of a call) -> "module:CodecClass"
REGISTRY: dict[str, str] = {
    "twilio": "twilio:TwilioCodec",
    "audiosocket": "audiosocket:AudioSocketCodec",
    "telnyx": "telnyx:TelnyxCodec",
    "plivo": "plivo:PlivoCodec",
    "vonage": "vonage:VonageCodec",
    "asterisk": "asterisk:AsteriskWebSocketCodec",  # chan_websocket; AudioSocket is above
    "exotel": "exotel:ExotelCodec",
}


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


@cache
def carrier(name: str) -> type[CarrierCodec]:
    """The codec class registered as `name` (KeyError for an unknown carrier)."""
    module, _, cls = REGISTRY[name].partition(":")
    codec = getattr(importlib.import_module(f"telephony.carriers.{module}"), cls)
    if not (isinstance(codec, type) and issubclass(codec, CarrierCodec)) or codec.name != name:
        raise TypeError(f"carrier {name!r} is registered as {REGISTRY[name]!r}, not its codec")
    return codec
