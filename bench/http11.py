"""A minimal HTTP/1.1 client on asyncio streams, for timing single requests.

The benchmark needs the arrival time of the first body byte of a chunked
streaming response and the latency of tiny GET requests on a kept-alive
connection; a full client library would add its own overhead and buffering
to exactly the figures being measured, on a machine whose cores the server
is also using.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StreamTiming:
    status: int
    sent_at: float
    first_byte_at: float | None = None
    done_at: float | None = None
    body_bytes: int = 0
    chunk_times: list[float] = field(default_factory=list)


class Connection:
    """One kept-alive HTTP/1.1 connection (requests run one at a time)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
            self._writer = None

    def _request_bytes(self, method: str, path: str, body: bytes | None) -> bytes:
        head = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Connection: keep-alive",
        ]
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")

    async def _head(self) -> tuple[int, dict[str, str]]:
        assert self._reader is not None
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    async def _body(self, headers: dict[str, str], timing: StreamTiming | None) -> bytes:
        assert self._reader is not None
        parts: list[bytes] = []
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = await self._reader.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await self._reader.readline()  # the blank line after the last chunk
                    break
                chunk = await self._reader.readexactly(size)
                await self._reader.readexactly(2)
                self._note(timing, chunk)
                if timing is None:
                    parts.append(chunk)
        else:
            length = int(headers.get("content-length", "0"))
            if length:
                chunk = await self._reader.readexactly(length)
                self._note(timing, chunk)
                parts.append(chunk)
        return b"".join(parts)

    @staticmethod
    def _note(timing: StreamTiming | None, chunk: bytes) -> None:
        if timing is None:
            return
        now = time.perf_counter()
        if timing.first_byte_at is None:
            timing.first_byte_at = now
        timing.body_bytes += len(chunk)
        timing.chunk_times.append(now)

    async def get(self, path: str) -> tuple[int, bytes]:
        assert self._writer is not None
        self._writer.write(self._request_bytes("GET", path, None))
        await self._writer.drain()
        status, headers = await self._head()
        return status, await self._body(headers, None)

    async def post_stream(self, path: str, payload: dict[str, Any]) -> StreamTiming:
        """POST JSON and read a (chunked) body, timing its first byte."""
        assert self._writer is not None
        data = self._request_bytes("POST", path, json.dumps(payload).encode())
        sent_at = time.perf_counter()
        self._writer.write(data)
        await self._writer.drain()
        status, headers = await self._head()
        timing = StreamTiming(status, sent_at)
        await self._body(headers, timing)
        timing.done_at = time.perf_counter()
        return timing
