"""The AudioSocket TCP listener: Asterisk dials in, one connection per call.

Asterisk's `AudioSocket(uuid,host:port)` connects, sends the call UUID, then
caller audio every 20 ms until hang-up. The call is registered by UUID; its
leg paces our audio in real time and fills gaps with silence so Asterisk's
inactivity timer never fires. Bound to loopback unless configured otherwise:
AudioSocket has no authentication of its own.

Bounds: at most `max_audiosocket_calls` connections (more are closed at once);
a connection must send its UUID within a few seconds, and a call that sends
no audio for `audiosocket_idle_s` is hung up, whatever else it still sends
(Asterisk sends audio every 20 ms, even of a quiet caller, so a call without
it is a dead or fake peer: a DTMF every second must not keep it open). The call is
registered only once its leg is set up, and ended in a `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from telephony.carriers.audiosocket import AudioSocketCodec, AudioSocketProtocolError
from telephony.events import CallerAudio, CallEvent, CallStarted, Dtmf, HungUp
from telephony.legs import CallLeg

from .calls import Call, CallIdTaken
from .pipeline import SpeechPipeline
from .protocol import clip

if TYPE_CHECKING:
    from .app import Gateway

log = logging.getLogger(__name__)

UUID_TIMEOUT_S = 5.0


class AudioSocketServer:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self, host: str, port: int, sock: socket.socket | None = None) -> None:
        if sock is not None:
            self._server = await asyncio.start_server(self._serve, sock=sock)
        else:
            self._server = await asyncio.start_server(self._serve, host, port)
        log.info("audiosocket listening", extra={"host": host, "port": self.port})

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
        if len(self._connections) >= self.gw.settings.max_audiosocket_calls:
            self.gw.metrics.errors.labels(code="audiosocket_over_capacity").inc()
            log.warning("audiosocket connection refused: at capacity")
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
        self, reader: asyncio.StreamReader, codec: AudioSocketCodec
    ) -> tuple[CallStarted, list[CallEvent]]:
        while True:
            data = await reader.read(4096)
            if not data:
                raise AudioSocketProtocolError("closed", "connection closed before the UUID")
            events = codec.receive_bytes(data)
            if events:
                first, rest = events[0], events[1:]
                assert isinstance(first, CallStarted)
                return first, rest

    async def _call(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        gw = self.gw
        codec = AudioSocketCodec()
        try:
            started, early = await asyncio.wait_for(self._read_start(reader, codec), UUID_TIMEOUT_S)
        except (TimeoutError, AudioSocketProtocolError) as exc:
            gw.metrics.errors.labels(code="audiosocket_protocol").inc()
            log.warning("audiosocket connection rejected: %s", clip(str(exc)))
            return
        call_id = started.call_id

        async def send_bytes(data: str | bytes) -> None:
            assert isinstance(data, bytes)
            writer.write(data)
            await writer.drain()

        leg = CallLeg(codec, send_bytes, pacing=codec.pacing())
        pipeline = SpeechPipeline(
            gw.core,
            leg,
            metrics=gw.metrics,
            max_queued=gw.settings.max_queued_sentences,
            max_markers=gw.settings.max_pending_marks,
            log_extra={"call": call_id},
        )
        call = Call(call_id, "audiosocket", leg, pipeline)
        call.output = {"format": "audiosocket", "encoding": "pcm16", "sample_rate": 8000,
                       "frame_ms": leg.fmt.frame_ms}  # fmt: skip
        try:
            gw.calls.register(call)
        except CallIdTaken as exc:
            # Someone is claiming a live call's UUID: refuse this connection, not the call.
            gw.metrics.errors.labels(code="call_id_taken").inc()
            log.warning("audiosocket call refused: %s", exc, extra={"call": clip(call_id, 64)})
            await pipeline.aclose()
            return
        reason = "hangup"
        last_audio = [time.monotonic()]

        async def handle(events: list[CallEvent]) -> bool:
            for event in events:
                if isinstance(event, CallerAudio):
                    last_audio[0] = time.monotonic()
                elif isinstance(event, Dtmf):
                    await call.emit({"type": "dtmf", "digit": event.digit, "call": call_id})
                elif isinstance(event, HungUp):
                    leg.mark_closed()
                    return False
            return True

        try:
            gw.refresh_gauges()
            log.info("audiosocket call started", extra={"call": call_id})
            leg.start()
            going = await handle(early)
            read = self._reader(reader, last_audio)
            while going and not leg.closed:
                data = await read(65536)
                going = await handle(codec.receive_bytes(data) if data else codec.receive_eof())
        except AudioSocketProtocolError as exc:
            await handle(exc.events)
            gw.metrics.errors.labels(code="audiosocket_protocol").inc()
            log.warning("audiosocket protocol error: %s", clip(str(exc)), extra={"call": call_id})
            reason = "protocol_error"
        except TimeoutError:
            log.warning("audiosocket call silent, hanging up", extra={"call": call_id})
            reason = "idle_timeout"
            with contextlib.suppress(Exception):
                await leg.hangup()
        except (ConnectionError, OSError):
            reason = "disconnected"
        finally:
            await leg.stop()
            await gw.calls.end(call, reason)
            gw.refresh_gauges()

    def _reader(
        self, reader: asyncio.StreamReader, last_audio: list[float]
    ) -> Callable[[int], Awaitable[bytes]]:
        """`reader.read`, raising TimeoutError once the peer has sent no audio for too long."""
        idle_s = self.gw.settings.audiosocket_idle_s

        async def read(n: int) -> bytes:
            if not idle_s:
                return await reader.read(n)
            left = last_audio[0] + idle_s - time.monotonic()
            if left <= 0:
                raise TimeoutError
            async with asyncio.timeout(left):
                return await reader.read(n)

        return read
