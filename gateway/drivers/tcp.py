"""The TCP carrier driver: a listener for carriers that dial in over raw TCP (AudioSocket).

Asterisk's `AudioSocket(uuid,host:port)` connects, sends the call UUID, then
caller audio every 20 ms until hang-up; the codec turns those bytes into call
events and its leg paces our audio in real time, filling gaps with silence so
Asterisk's inactivity timer never fires. Bound to loopback unless configured
otherwise (`VOXGATE_<NAME>_HOST`): AudioSocket has no authentication of its
own.

Bounds: at most `max_<name>_calls` connections (more are closed at once); a
connection must announce its call within `START_TIMEOUT_S`, and a call that
sends no audio for `<name>_idle_s` is hung up, whatever else it still sends
(Asterisk sends audio every 20 ms, even of a quiet caller, so a call without
it is a dead or fake peer: a DTMF every second must not keep it open). Any
protocol error ends that call (the byte stream cannot be trusted after one).
The call is registered only once its leg is set up, and ended in a `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

from telephony.carriers import CarrierCodec, CarrierProtocolError
from telephony.events import CallerAudio, CallEvent, CallStarted
from telephony.legs import CallLeg

from ..carrier_calls import carrier_log, handle_events, open_call, protocol_error, register
from ..protocol import clip
from ..state import Gateway

START_TIMEOUT_S = 5.0
READ_BYTES = 65536


class TcpCarrierServer:
    """One TCP listener, one task per connection, for one carrier codec."""

    def __init__(self, gateway: Gateway, codec_cls: type[CarrierCodec]) -> None:
        self.gw = gateway
        self.codec_cls = codec_cls
        self.name = codec_cls.name
        self.log = carrier_log(self.name)
        settings = gateway.settings
        self.host: str = getattr(settings, f"{self.name}_host")
        self.port_setting: int = getattr(settings, f"{self.name}_port")
        self.max_calls: int = getattr(settings, f"max_{self.name}_calls")
        self.idle_s: float = getattr(settings, f"{self.name}_idle_s")
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._port

    async def start(self, sock: socket.socket | None = None) -> None:
        if sock is not None:
            self._server = await asyncio.start_server(self._serve, sock=sock)
        else:
            self._server = await asyncio.start_server(self._serve, self.host, self.port_setting)
        self._port: int = self._server.sockets[0].getsockname()[1]
        self.log.info("%s listening", self.name, extra={"host": self.host, "port": self.port})

    async def pause(self) -> None:
        """Stop listening (a drain): the next call connects elsewhere; live calls go on."""
        if self._server is not None and self._server.is_serving():
            self._server.close()
            self.log.info("%s no longer listening (draining)", self.name)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= self.max_calls:
            self.gw.metrics.errors.labels(code=f"{self.name}_over_capacity").inc()
            self.log.warning("%s connection refused: at capacity", self.name)
            writer.close()
            return
        self._connections.add(task)
        try:
            await self._call(reader, writer)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_start(
        self, reader: asyncio.StreamReader, codec: CarrierCodec
    ) -> tuple[CallStarted, list[CallEvent]]:
        while True:
            data = await reader.read(4096)
            if not data:
                raise CarrierProtocolError("closed", "connection closed before the call started")
            events = codec.receive_bytes(data)
            for i, event in enumerate(events):
                if isinstance(event, CallStarted):
                    return event, events[i + 1 :]

    async def _call(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        gw = self.gw
        codec = self.codec_cls()
        try:
            started, early = await asyncio.wait_for(
                self._read_start(reader, codec), START_TIMEOUT_S
            )
        except (TimeoutError, CarrierProtocolError) as exc:
            gw.metrics.errors.labels(code=f"{self.name}_protocol").inc()
            self.log.warning("%s connection rejected: %s", self.name, clip(str(exc)))
            return

        async def write(data: str | bytes) -> None:
            writer.write(data if isinstance(data, bytes) else data.encode())
            await writer.drain()

        async def close() -> None:
            writer.close()

        leg = CallLeg(codec, write, pacing=codec.pacing(), close=close)
        call, sentences = await open_call(gw, codec, started, leg)
        if not await register(gw, call):
            return  # someone is claiming a live call's id: refuse this connection, not the call
        call.pipeline.add_sentences(sentences)
        reason = "hangup"
        last_audio = time.monotonic()
        try:
            leg.start()
            ended = await handle_events(call, early)
            while ended is None and not leg.closed:
                left = self.idle_s - (time.monotonic() - last_audio) if self.idle_s else None
                if left is not None and left <= 0:
                    raise TimeoutError
                async with asyncio.timeout(left):
                    data = await reader.read(READ_BYTES)
                events = codec.receive_bytes(data) if data else codec.receive_eof()
                if any(isinstance(e, CallerAudio) for e in events):
                    last_audio = time.monotonic()
                ended = await handle_events(call, events)
            reason = ended or reason
        except CarrierProtocolError as exc:
            await handle_events(call, exc.events)  # DTMF that came before the bad bytes counts
            protocol_error(gw, self.name, exc, call.id)
            reason = "protocol_error"
        except TimeoutError:
            self.log.warning("%s call silent, hanging up", self.name, extra={"call": call.id})
            reason = "idle_timeout"
            with contextlib.suppress(Exception):
                await leg.hangup()
        except (ConnectionError, OSError):
            reason = "disconnected"
        finally:
            await leg.stop()
            await gw.calls.end(call, reason)
            gw.refresh_gauges()
