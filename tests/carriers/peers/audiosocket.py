"""Asterisk's side of AudioSocket(): the UUID first, slin every 20 ms, DTMF, hangup (0x00).

Over TCP, so `connect` opens a socket to the gateway's AudioSocket port. The
gateway paces in real time and fills gaps with silence; it never sends marks
or clears (AudioSocket has none): a barge-in shows as speech stopping, and a
hang-up from the gateway is the 0x00 kind followed by the socket closing.
"""

from __future__ import annotations

import asyncio
import struct
import uuid
from typing import Any, ClassVar

from telephony.carriers.audiosocket import Audio, AudioSocketParser, Hangup
from telephony.media import MediaFormat

from .base import FakeCarrier


class Peer(FakeCarrier):
    name: ClassVar[str] = "audiosocket"
    transport: ClassVar[str] = "tcp"
    ends_by: ClassVar[str] = "hangup"
    hangs_up_by: ClassVar[str] = "hangup"
    acks_marks: ClassVar[bool] = False
    has_params: ClassVar[bool] = False

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def __init__(self, server: Any, call_id: str = "", **kwargs: Any) -> None:
        super().__init__(server, call_id or str(uuid.uuid4()), **kwargs)
        self._parser = AudioSocketParser()
        self._pending: list[Any] = []

    @classmethod
    def default_format(cls) -> MediaFormat:
        return MediaFormat("pcm16", 8000, 20)

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.server.audiosocket_port
        )
        await self._write(b"\x01\x00\x10" + uuid.UUID(self.call_id).bytes)

    async def _write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send_audio(self, payload: bytes) -> None:
        await self._write(b"\x10" + struct.pack(">H", len(payload)) + payload)

    async def press(self, digit: str) -> None:
        await self._write(b"\x03\x00\x01" + digit.encode())

    async def hang_up(self) -> None:
        self.stop_audio()
        await self._write(b"\x00\x00\x00")

    async def receive(self) -> Any:
        while not self._pending:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("closed")
            self._pending.extend(self._parser.feed(data))
        return self._pending.pop(0)

    def handle(self, message: Any) -> None:
        if isinstance(message, Audio):
            assert message.sample_rate == 8000 and len(message.pcm) == 320
            self.played(message.pcm)
        elif isinstance(message, Hangup):
            self.on_hangup()
        else:
            raise AssertionError(f"the gateway sent {message!r}: only audio or hangup allowed")

    async def close_transport(self) -> None:
        self.writer.close()
