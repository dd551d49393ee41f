"""The WebSocket carrier driver: `/<carrier>`, for every carrier whose codec speaks WebSocket.

The carrier opens the socket (Twilio `<Connect><Stream>`, Telnyx
`stream_url`, Plivo `<Stream>`, a Vonage NCCO, an Exotel Voicebot applet,
Asterisk chan_websocket). The driver checks who it is (origin, then the
carrier's authentication: `gateway.auth.carrier_upgrade`), accepts with the
subprotocol the carrier's peer offers, and feeds every message to the codec
until it announces the call; then the call is opened and registered by
`gateway.carrier_calls` and served until it ends, the codec's events acted on
in order. Query parameters of the leg URL are the call's parameters too
(`?session=<alias>` among them).

Bounds: a socket that announces no call within `carrier_start_timeout_s` is
closed (1008 "no start"); a message is at most what the server takes on any
WebSocket (`serving.uvicorn_options`: 4 × `max_message_bytes`, room for a long
greeting parameter); bad messages are counted and logged (clipped) and, where the
carrier's rules allow, the call goes on, but a leg sending more than
`MAX_PROTOCOL_ERRORS` of them, or one its codec calls fatal, is closed 1008
with the reason. Whatever happens after registration, the call is ended in a
`finally` (with its reason for the application), and the socket always gets
a close frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.websockets import WebSocket, WebSocketState

from telephony.carriers import CarrierCodec, CarrierProtocolError
from telephony.events import CallEvent, CallStarted
from telephony.legs import CallLeg

from ..auth import carrier_token_matches, carrier_upgrade, offered_subprotocols, origin_allowed
from ..calls import Call
from ..carrier_calls import carrier_log, handle_events, open_call, protocol_error, register
from ..sending import close_quietly, send_message
from ..state import Gateway, gateway_of

MAX_PROTOCOL_ERRORS = 100  # bad messages a leg may send before it is closed


class NoStart(Exception):
    """The socket closed before the carrier announced a call."""


class Closing(Exception):
    """The leg must be closed (1008 `reason`), and its call ended with `ends`."""

    def __init__(self, reason: str, ends: str = "protocol_error") -> None:
        super().__init__(reason)
        self.reason = reason
        self.ends = ends


def carrier_endpoint(codec_cls: type[CarrierCodec]) -> Callable[[WebSocket], Awaitable[None]]:
    """The Starlette endpoint for one WebSocket carrier."""

    async def endpoint(ws: WebSocket) -> None:
        await CarrierSocket(ws, codec_cls).serve()

    endpoint.__name__ = f"{codec_cls.name}_leg"
    return endpoint


class CarrierSocket:
    """One carrier connection, from the upgrade to the close frame."""

    def __init__(self, ws: WebSocket, codec_cls: type[CarrierCodec]) -> None:
        self.ws = ws
        self.gw: Gateway = gateway_of(ws)
        self.name = codec_cls.name
        self.codec_cls = codec_cls
        self.log = carrier_log(self.name)
        self.errors = 0
        self.call: Call | None = None

    async def serve(self) -> None:
        gw, ws = self.gw, self.ws
        if not origin_allowed(ws, gw.settings):
            gw.metrics.errors.labels(code="forbidden_origin").inc()
            await ws.close(code=1008, reason="origin not allowed")  # before accept: HTTP 403
            return
        verdict, why = carrier_upgrade(self.name, ws, gw.settings, self.codec_cls.token_headers)
        if verdict == "denied":
            code = "bad_twilio_signature" if "Twilio" in why else "bad_carrier_token"
            gw.metrics.errors.labels(code=code).inc()
            await ws.close(code=1008, reason=why)
            return
        offered = offered_subprotocols(ws)
        await ws.accept(
            subprotocol=next((p for p in self.codec_cls.subprotocols if p in offered), None)
        )
        query = dict(ws.query_params)
        codec = self.codec_cls(query)
        reason, close_code, close_reason = "hangup", 1000, ""
        try:
            try:
                started, early = await self._receive_start(codec)
            except (TimeoutError, NoStart) as exc:
                # A TimeoutError's text is empty (and the exception itself truthy): name the reason.
                why = str(exc) or "no start in time"
                self.log.info("%s socket closed without a call: %s", self.name, why)
                close_code, close_reason = 1008, "no start"
                return
            if verdict == "pending" and not carrier_token_matches(
                gw.settings, started.params.get("token")
            ):
                gw.metrics.errors.labels(code="bad_carrier_token").inc()
                self.log.warning("%s call refused: invalid carrier token", self.name)
                close_code, close_reason = 1008, "invalid carrier token"
                return
            leg = CallLeg(codec, self._send, pacing=codec.pacing(), close=self._close)
            call, sentences = await open_call(gw, codec, started, leg, query)
            if not await register(gw, call):
                close_code, close_reason = 1008, "call id in use"
                return
            self.call = call
            call.pipeline.add_sentences(sentences)
            leg.start()
            reason = await handle_events(call, early) or await self._serve_call(codec, call)
        except Closing as exc:
            reason, close_code, close_reason = exc.ends, 1008, exc.reason
        except Exception:
            self.log.exception("%s stream failed", self.name, extra={"call": self._call_id})
            reason, close_code = "error", 1011
        finally:
            if self.call is not None:
                await self.call.leg.stop()
                await gw.calls.end(self.call, reason)
                gw.refresh_gauges()
            if ws.application_state == WebSocketState.CONNECTED:
                await close_quietly(ws, close_code, close_reason)

    @property
    def _call_id(self) -> str:
        return self.call.id if self.call is not None else ""

    async def _send(self, message: str | bytes) -> None:
        await send_message(self.ws, message)

    async def _close(self) -> None:
        await self.ws.close(1000)

    async def _receive(self, codec: CarrierCodec) -> list[CallEvent] | None:
        """The next message's events; None once the carrier has closed the socket."""
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text, data = message.get("text"), message.get("bytes")
        try:
            if text is not None:
                return codec.receive_text(text)
            return codec.receive_bytes(data or b"")
        except CarrierProtocolError as exc:
            protocol_error(self.gw, self.name, exc, self._call_id)
            self.errors += 1
            if exc.fatal:
                raise Closing(exc.code) from exc
            if self.errors > MAX_PROTOCOL_ERRORS:
                raise Closing("too many bad messages") from exc
            return exc.events

    async def _receive_start(self, codec: CarrierCodec) -> tuple[CallStarted, list[CallEvent]]:
        """Read until the codec announces the call, within the configured time."""
        async with asyncio.timeout(self.gw.settings.carrier_start_timeout_s):
            while True:
                events = await self._receive(codec)
                if events is None:
                    raise NoStart("closed before start")
                for i, event in enumerate(events):
                    if isinstance(event, CallStarted):
                        return event, events[i + 1 :]

    async def _serve_call(self, codec: CarrierCodec, call: Call) -> str:
        """Act on the carrier's messages until the call ends; return why it ended."""
        while True:
            events = await self._receive(codec)
            if events is None:
                return "hangup"
            if (reason := await handle_events(call, events)) is not None:
                return reason
