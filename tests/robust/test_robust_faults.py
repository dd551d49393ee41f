"""Faults: a failing engine, vanishing and stalled clients, unload races, shutdown.

Each fault is injected into one session or into the engine while a clean
bystander keeps talking; afterwards the gateway must hold no session, task or
object it did not hold before, and its memory must be flat.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from robust_support import (
    Transcript,
    as_uuid,
    bystander,
    check_spoken,
    live_sessions,
    metric,
    note_memory,
    open_speak,
    quiesced,
    record,
    rss_mb,
    send_json,
    serve,
    server_task_names,
    tally,
    twilio_msg,
    twilio_start,
    wait_until,
)

import gateway.session
from gateway.config import Settings
from telephony.carriers.audiosocket import Audio, AudioSocketParser, Hangup
from tts_core import EngineError, EngineUnavailable, SynthesisRequest
from tts_core.sim_engine import SimulatedEngine

SECRET_PATH = "/srv/voxgate/voices/private-voice.onnx"


class CrashingEngine(SimulatedEngine):
    """Sim engine that fails like a buggy backend: BOOM is an EngineError, CRASH is not,
    GONE is a voice that cannot load (its message names a server path)."""

    def synthesize(self, request: SynthesisRequest) -> Iterator[Any]:
        if "CRASH" in request.text:
            raise RuntimeError(f"backend crashed reading {SECRET_PATH}")
        if "GONE" in request.text:
            raise EngineUnavailable(f"cannot load Piper voice {SECRET_PATH}: bad header")
        yield from super().synthesize(request)


class FlakyLoadEngine(SimulatedEngine):
    """Fails its first `failures` loads, as a model whose weights are not there yet."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0

    def load(self) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise EngineUnavailable(f"weights not found (attempt {self.attempts})")
        super().load()


class SlowUnloadEngine(SimulatedEngine):
    """Refuses to synthesize while unloaded (as Piper does) and takes a while to unload."""

    def __init__(self) -> None:
        super().__init__()
        self.unloading = threading.Event()

    def unload(self) -> None:
        self.unloading.set()
        time.sleep(0.15)  # freeing GPU memory is not instant
        super().unload()

    def synthesize(self, request: SynthesisRequest) -> Iterator[Any]:
        if not self.loaded:
            raise EngineError("engine is not loaded")
        yield from super().synthesize(request)


@pytest.fixture(scope="module")
def crash_server() -> Iterator[Any]:
    with serve(Settings(engine="sim", audiosocket_port=0), CrashingEngine(fail_marker="BOOM")) as r:
        yield r


@pytest.mark.parametrize(
    ("marker", "code"),
    [("BOOM", "engine_error"), ("CRASH", "engine_error"), ("GONE", "engine_unavailable")],
)
async def test_engine_failure_on_one_sentence_spares_the_rest(
    crash_server, marker, code, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.pipeline")
    texts = ["Before the fault.", f"This {marker} sentence fails.", "After the fault."]

    async def faulty() -> Transcript:
        ws, _ = await open_speak(crash_server.ws, speed=2.0)
        async with ws:
            for text in texts:
                await send_json(ws, type="text", text=text + " ")
            await send_json(ws, type="close")
            return await record(ws, Transcript(), limit_s=15)

    got, _ = await asyncio.gather(faulty(), bystander(crash_server.ws))
    tally(faults_injected=1)
    errors = got.of("error")
    assert [(e["code"], e["index"]) for e in errors] == [(code, 1)], got.events
    # The engine's own words (paths, exception reprs, the sentence) stay in the log.
    public = errors[0]["message"]
    for internal in (SECRET_PATH, "RuntimeError", "simulated failure", marker):
        assert internal not in public, public
    assert public in {
        "this sentence could not be synthesized; it was skipped",
        "the speech engine is not available; try again later",
    }
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "sentence 1 failed" in logged
    assert (SECRET_PATH if marker != "BOOM" else "simulated failure") in logged
    check_spoken(got, [texts[0], texts[2]], speed=2.0)
    assert got.events[-1]["type"] == "done"
    await quiesced(crash_server)


def http_get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_engine_that_fails_to_load_is_retried() -> None:
    engine = FlakyLoadEngine(failures=3)
    with serve(Settings(engine="sim", audiosocket_port=0), engine) as running:
        # Readiness never loads the engine itself (a GPU load per probe would defeat idle unload).
        status, body = await asyncio.to_thread(http_get, f"{running.http}/readyz")
        assert status == 200 and body == {"status": "ready", "engine": "sim", "loaded": False}
        assert engine.attempts == 0
        for attempt in (1, 2, 3):
            ws, first = await open_speak(running.ws, speed=2.0)
            async with ws:
                # The session is told, and closed cleanly with a reason; no internals leak.
                assert first == {
                    "type": "error",
                    "code": "engine_unavailable",
                    "message": "the speech engine is not available; try again later",
                }
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd.code == 1011
                assert closed.value.rcvd.reason == "engine unavailable"
            assert engine.attempts == attempt
            status, body = await asyncio.to_thread(http_get, f"{running.http}/readyz")
            assert status == 503 and body["status"] == "unavailable"
            assert "weights" not in json.dumps(body)
        ws, _ = await open_speak(running.ws, speed=2.0)  # attempt 4 loads
        async with ws:
            await send_json(ws, type="text", text="Back in business.")
            await send_json(ws, type="close")
            got = await record(ws, Transcript(), limit_s=10)
        check_spoken(got, ["Back in business."], speed=2.0)
        status, body = await asyncio.to_thread(http_get, f"{running.http}/readyz")
        assert status == 200 and body["status"] == "ready" and engine.attempts == 4
        tally(faults_injected=3)
        await quiesced(running)


async def vanish(base: str, when: str) -> None:
    """Open a session and drop the TCP connection without a close frame."""
    ws, _ = await open_speak(base)
    if when != "after_ready":
        await send_json(ws, type="text", text="This answer is cut off by a vanishing client. ")
        await send_json(ws, type="text", text="And this one is never heard at all.")
    if when == "mid_sentence":
        while not isinstance(await asyncio.wait_for(ws.recv(), 10), bytes):
            pass
    ws.transport.abort()


VANISH_SIZES = [
    pytest.param(60, id="small"),
    pytest.param(200, id="full", marks=pytest.mark.robust_full),
]


@pytest.mark.parametrize("count", VANISH_SIZES)
async def test_abrupt_disconnects_leak_nothing(sim_server, count) -> None:
    kinds = ["mid_sentence", "after_text", "after_ready"]
    wave = 10

    async def run_waves(n: int) -> None:
        for start in range(0, n, wave):
            size = min(wave, n - start)
            await asyncio.gather(*(vanish(sim_server.ws, kinds[i % 3]) for i in range(size)))
        await quiesced(sim_server)

    await quiesced(sim_server)
    baseline_tasks = server_task_names(sim_server)
    await run_waves(6 * wave)  # warm-up: allocator arenas and first-use caches are not growth
    rss_before = rss_mb()
    watch = asyncio.ensure_future(bystander(sim_server.ws, rounds=2))
    await run_waves(count)
    await watch
    growth = rss_mb() - rss_before
    tally(faults_injected=count + 6 * wave, sessions=0)
    note_memory("abrupt_disconnects", growth)
    assert server_task_names(sim_server) == baseline_tasks
    assert live_sessions(sim_server) == 0
    assert metric(sim_server, "voxgate_active_sessions") == 0
    assert sim_server.gateway.core.queue_depth == 0
    assert growth < 12, f"RSS grew {growth:.1f} MiB over {count} abrupt disconnects"


def ws_frame(text: str) -> bytes:
    """One masked client text frame (RFC 6455), for a client that never reads."""
    data = text.encode()
    mask = b"\x01\x02\x03\x04"
    head = bytes([0x81])
    if len(data) < 126:
        head += bytes([0x80 | len(data)])
    else:
        head += bytes([0x80 | 126]) + struct.pack(">H", len(data))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of the unmasked frames a server sent, up to a truncated tail."""
    out, pos = [], 0
    while pos + 2 <= len(data):
        opcode, size, pos = data[pos] & 0x0F, data[pos + 1] & 0x7F, pos + 2
        if size == 126:
            size, pos = struct.unpack(">H", data[pos : pos + 2])[0], pos + 2
        elif size == 127:
            size, pos = struct.unpack(">Q", data[pos : pos + 8])[0], pos + 8
        if pos + size > len(data):
            break
        out.append((opcode, data[pos : pos + size]))
        pos += size
    return out


async def test_slow_client_is_closed_with_bounded_buffers(sim_server, monkeypatch) -> None:
    """A client that stops reading: the kernel buffers fill, the send times out, it is closed."""
    monkeypatch.setattr(gateway.session, "SEND_TIMEOUT_S", 0.5)
    host, port = "127.0.0.1", int(sim_server.ws.rsplit(":", 1)[1])
    query = "lead_ms=60000&format=json&encoding=pcm16&sample_rate=24000&frame_ms=100&speed=0.5"
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /v1/speak?{query} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    greeting = b""
    while b'"ready"' not in greeting:  # frames sent before the upgrade completes are lost
        greeting += await asyncio.to_thread(sock.recv, 65536)
    # As many sentences as one message may bring (the queue limit, less the pending tail).
    sentence = "Sentence {} of a long answer that nobody is reading at all, and it goes on and on."
    text = " ".join(sentence.format(i) for i in range(30))
    sock.sendall(ws_frame(json.dumps({"type": "text", "text": text})))
    sock.sendall(ws_frame(json.dumps({"type": "close"})))
    # What speaking it all would put on the wire: pcm16 at 24 kHz, base64 in JSON.
    wire_bytes = SimulatedEngine.duration_s(text, 0.5) * 24000 * 2 * 4 / 3
    before = metric(sim_server, "voxgate_errors_total", code="slow_client")
    gw = sim_server.gateway
    side = asyncio.ensure_future(bystander(sim_server.ws))
    await wait_until(
        lambda: (
            metric(sim_server, "voxgate_errors_total", code="slow_client") > before
            and all(s.chars_accepted != len(text) for s in gw.sessions)
        ),
        20,
        "the slow session to be closed",
    )
    await side
    tally(faults_injected=1, sessions=1)
    # Now read what was buffered: far less than the answer, then a close frame with a reason.
    sock.settimeout(10)
    received = bytearray(greeting)
    with contextlib.suppress(ConnectionError, TimeoutError):
        while chunk := await asyncio.to_thread(sock.recv, 1 << 20):
            received += chunk
    sock.close()
    body = bytes(received[received.index(b"\r\n\r\n") + 4 :])
    assert len(body) < wire_bytes / 4, (len(body), wire_bytes)
    frames = server_frames(body)
    closes = [payload for opcode, payload in frames if opcode == 0x8]
    if closes:  # the close frame fit in the buffers: it says why
        assert struct.unpack(">H", closes[0][:2])[0] == 1008
        assert b"not reading" in closes[0][2:]
    await quiesced(sim_server)


UNLOAD_SIZES = [
    pytest.param(3, id="small"),
    pytest.param(40, id="full", marks=pytest.mark.robust_full),
]


@pytest.mark.parametrize("rounds", UNLOAD_SIZES)
async def test_idle_unload_racing_a_new_request(rounds) -> None:
    engine = SlowUnloadEngine()
    settings = Settings(engine="sim", audiosocket_port=0)
    with serve(settings, engine, idle_unload_s=0.05) as running:
        ws, _ = await open_speak(running.ws, speed=2.0)
        async with ws:
            for i in range(rounds):
                engine.unloading.clear()
                assert await asyncio.to_thread(engine.unloading.wait, 10), "watchdog never unloaded"
                # The watchdog has begun unloading: a sentence arrives right now.
                text = f"Round {i} starts now."
                await send_json(ws, type="text", text=text)
                await send_json(ws, type="flush")
                got = await record(ws, Transcript(), until="flushed", limit_s=10)
                assert got.codes() == [], got.events
                check_spoken(got, [text], speed=2.0)
            tally(faults_injected=rounds)
            assert engine.load_count >= rounds
            await send_json(ws, type="close")
            await record(ws, Transcript(), limit_s=10)


async def test_shutdown_closes_sessions_and_hangs_up_calls() -> None:
    engine = SimulatedEngine()
    context = serve(Settings(engine="sim", audiosocket_port=1), engine)
    running = context.__enter__()
    try:
        talkers = []
        for _ in range(3):
            ws, _ = await open_speak(running.ws, lead_ms=200)
            await send_json(
                ws,
                type="text",
                text="A long answer that is still playing when the server stops. " * 3,
            )
            talkers.append(ws)
        tws = await websockets.connect(f"{running.ws}/twilio")
        await tws.send(twilio_msg("connected", None))
        await tws.send(twilio_start("MZdown", "CAdown"))
        reader, writer = await asyncio.open_connection("127.0.0.1", running.audiosocket_port)
        call_id = str(uuid.uuid4())
        writer.write(as_uuid(uuid.UUID(call_id).bytes))
        await wait_until(lambda: len(running.gateway.calls.all()) == 2, 5, "calls")
        app, ready = await open_speak(running.ws, call=call_id)
        assert ready["type"] == "ready"
        await send_json(app, type="text", text="Speaking on the call when the server stops.")
        await asyncio.sleep(0.5)  # everybody is mid-sentence
        stopping = asyncio.ensure_future(asyncio.to_thread(context.__exit__, None, None, None))
        closes = await asyncio.gather(
            *(record(ws, Transcript(), until=None, limit_s=15) for ws in [*talkers, app])
        )
        twilio_close = await record(tws, Transcript(), until=None, limit_s=15)
        tail = await asyncio.wait_for(reader.read(), 15)
        await stopping
    except BaseException:
        context.__exit__(None, None, None)
        raise
    tally(faults_injected=1, sessions=1)
    for got in closes:
        assert got.close_code in (1001, 1012), got.close_code
    assert twilio_close.close_code is not None
    # AudioSocket: audio only, and the last message before EOF is a hangup.
    messages = AudioSocketParser().feed(tail)
    assert messages and isinstance(messages[-1], Hangup), messages[-3:]
    assert all(isinstance(m, Audio) for m in messages[:-1])
    writer.close()
