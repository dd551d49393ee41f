"""Scenario `replicas`: what bridging an attach across replicas adds to attaching on the owner.

One `redis-server` on loopback and two gateways sharing calls through it
(`VOXGATE_REDIS_URL`, sim engine at RTF 0, so synthesis costs nothing and
the difference is the bridge). A fake Asterisk dials replica 1 over
AudioSocket and keeps the call up; then, one attach at a time, alternating,
an application attaches to that call on replica 1 (local) or on replica 2
(bridged to replica 1 over `/internal/bridge`) and says one short sentence.
Two figures per path, both from this (client) process:

- *attach*: socket opened → `ready` (the bridged path adds a Redis lookup,
  a signed WebSocket handshake to the owner, and the owner's session set-up);
- *first audio*: the text leaving the application → the first frame of
  speech arriving at the fake Asterisk (the bridged path adds one relay of
  the text through replica 2; the audio itself goes from the owner to the
  caller directly, as it always does);
- *connect → first audio*: the two together, an application that attaches
  and speaks at once: what a bridged attach adds to the caller's wait.

The AudioSocket leg sends a frame every 20 ms, so first audio is quantised
to that tick on both paths alike (uniform 0-20 ms); medians over 60 rounds
(`--quick`: 10) compare to within a couple of milliseconds. Each round ends
with a `clear` (the caller barging in), so no round waits for the last one's
speech to play out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import shutil
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import websockets

from . import servers
from .common import Options, write_result
from .stats import summary

TEXT = "Please hold the line."
MEASURES = ("attach_ms", "first_audio_ms", "connect_to_audio_ms")
SECRET = secrets.token_hex(16)


@contextlib.contextmanager
def redis_server(log_dir: Path) -> Iterator[str]:
    """Debian's redis-server on a free loopback port, no persistence; its URL."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = servers.free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "redis.log", "ab") as log:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(log_dir)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                             text=True).stdout.strip() != "PONG":  # fmt: skip
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def replica(name: str, redis_url: str, log_dir: Path, audiosocket_port: int) -> servers.Server:
    port = servers.free_port()
    env = {
        "VOXGATE_ENGINE": "sim",
        "VOXGATE_CACHE_ENTRIES": "0",
        "VOXGATE_IDLE_UNLOAD_S": "0",
        "VOXGATE_LOG_LEVEL": "warning",
        "VOXGATE_REDIS_URL": redis_url,
        "VOXGATE_CLUSTER_SECRET": SECRET,
        "VOXGATE_AUDIOSOCKET_PORT": str(audiosocket_port),
    }
    argv = [sys.executable, "-m", "gateway", "serve", "--port", str(port)]
    return servers.wait_started(servers.spawn(name, argv, env, port, log_dir), "/v1/voices", 60)


class Asterisk:
    """AudioSocket's caller side: the UUID, slin every 20 ms; the arrival of every frame."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.call_id = str(uuid.uuid4())
        self.speech: list[float] = []  # arrival times of frames that are not silence
        self.spoke = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Asterisk:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(b"\x01\x00\x10" + uuid.UUID(self.call_id).bytes)
        self._tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._read())]
        return self

    async def _send(self) -> None:
        frame = b"\x10" + struct.pack(">H", 320) + b"\x00" * 320
        t0, n = time.monotonic(), 0
        while True:
            n += 1
            self.writer.write(frame)
            await self.writer.drain()
            await asyncio.sleep(max(0.0, t0 + n * 0.02 - time.monotonic()))

    async def _read(self) -> None:
        buffer = b""
        while data := await self.reader.read(65536):
            now = time.monotonic()
            buffer += data
            while len(buffer) >= 3:
                size = struct.unpack(">H", buffer[1:3])[0]
                if len(buffer) < 3 + size:
                    break
                kind, payload, buffer = buffer[0], buffer[3 : 3 + size], buffer[3 + size :]
                if kind == 0x10 and any(payload):
                    self.speech.append(now)
                    self.spoke.set()

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        self.writer.close()


async def one_attach(base: str, asterisk: Asterisk) -> tuple[float, float]:
    """(socket opened → ready, text sent → first speech frame at the caller), in seconds."""
    url = f"{base}/v1/speak?call={asterisk.call_id}&listen=0"
    while True:
        t0 = time.perf_counter()
        ws = await websockets.connect(url)
        ready = json.loads(await ws.recv())
        attach_s = time.perf_counter() - t0
        if ready["type"] == "ready":
            break
        await ws.close()  # the previous attach has not let go yet
        await asyncio.sleep(0.05)
    try:
        heard = len(asterisk.speech)
        sent = time.monotonic()
        await ws.send(json.dumps({"type": "text", "text": TEXT}))
        await ws.send(json.dumps({"type": "flush"}))
        while len(asterisk.speech) <= heard:
            asterisk.spoke.clear()
            await asyncio.wait_for(asterisk.spoke.wait(), 15)
        first_audio_s = asterisk.speech[heard] - sent
        await ws.send(json.dumps({"type": "clear"}))  # the caller barges in: next round
        while json.loads(await asyncio.wait_for(ws.recv(), 15))["type"] != "cleared":
            pass
    finally:
        await ws.close()
    # The call goes quiet and the app lets go. `cleared` comes on a frame tick, so a fixed
    # pause would lock every round to one phase of the 20 ms clock; a random one does not.
    await asyncio.sleep(0.1 + random.uniform(0, 0.02))
    return attach_s, first_audio_s


def run(opts: Options) -> dict[str, Any]:
    started = time.monotonic()
    rounds = 10 if opts.quick else 60
    random.seed(opts.seed)
    audiosocket_port = servers.free_port()
    with redis_server(opts.logs / "replicas-redis") as url:
        owner = replica("replica-owner", url, opts.logs, audiosocket_port)
        try:
            other = replica("replica-other", url, opts.logs, 0)
            try:

                async def trial() -> dict[str, dict[str, list[float]]]:
                    times: dict[str, dict[str, list[float]]] = {
                        measure: {"owner": [], "bridged": []} for measure in MEASURES
                    }
                    async with Asterisk(audiosocket_port) as asterisk:
                        await asyncio.sleep(0.3)
                        for base in (owner.ws, other.ws):  # warm-up: first-use costs
                            await one_attach(base, asterisk)
                        for _ in range(rounds):
                            for path, base in (("owner", owner.ws), ("bridged", other.ws)):
                                attach_s, audio_s = await one_attach(base, asterisk)
                                times["attach_ms"][path].append(attach_s)
                                times["first_audio_ms"][path].append(audio_s)
                                times["connect_to_audio_ms"][path].append(attach_s + audio_s)
                    return times

                times = asyncio.run(trial())
            finally:
                other.stop()
        finally:
            owner.stop()
    data: dict[str, Any] = {"text": TEXT, "rounds": rounds, "engine": "sim (rtf 0)"}
    for measure, paths in times.items():
        data[measure] = {path: summary(values, 1000) for path, values in paths.items()}
    data["bridge_adds_p50_ms"] = {
        measure: round(data[measure]["bridged"]["p50"] - data[measure]["owner"]["p50"], 1)
        for measure in times
    }
    write_result(opts, "replicas", data, started)
    return data
