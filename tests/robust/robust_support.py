"""Shared tooling for the robustness suite: servers, clients, audio accounting, leak probes.

The suite runs the real gateway (uvicorn in a thread, `tests/e2e/server.py`)
on loopback with the deterministic `SimulatedEngine`, so the exact bytes every
sentence must produce are known in advance: a lost, duplicated or reordered
frame is an assertion failure, not a judgement call. The helpers here keep the
ordering of events and frames on a socket (the stock test client separates
them), count live objects and tasks inside the server's own event loop, and
tally the figures the issue note reports (inputs tried, sessions, faults,
frames lost, memory growth).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import math
import os
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import websockets

from gateway.protocol import SpeakSettings
from telephony.media import MediaFormat, UtteranceEncoder
from tests.e2e.client import url as speak_url
from tests.e2e.server import Running
from tests.e2e.server import serve as _serve

__all__ = ["Running", "serve", "speak_url"]  # re-exported for the robust test modules
from tts_core import SpeechCore, SynthesisRequest
from tts_core.sim_engine import SimulatedEngine

FRAME_MS = 20
UNPACED = 60_000  # lead_ms: frames leave as fast as they are rendered
KNOWN_ERROR_CODES = frozenset(
    {
        "malformed_json",
        "malformed_message",
        "unknown_type",
        "invalid_field",
        "binary_not_allowed",
        "message_too_large",
        "invalid_setting",
        "unknown_call",
        "call_busy",
        "already_started",
        "session_closing",
        "text_limit",
        "queue_full",
        "engine_error",
        "engine_unavailable",
        "over_capacity",
        "idle_timeout",
        "shutting_down",
        "invalid_request",
        "too_many_marks",
        "tenant_over_capacity",
        "not_attached",
    }
)


def serve(settings: Any, engine: Any = None, **core_kw: Any) -> Any:
    """`tests.e2e.server.serve` with the render quantum off (sentences always whole).

    This suite checks every frame against the bytes a sentence must produce,
    and under contention the speech core would render long sentences in pieces,
    whose joined audio is not the whole sentence's (`tts_core.pieces`;
    `tests/test_pieces.py` and `tests/e2e/test_tenants.py` cover that path).
    """
    settings.render_piece_ms = 0
    return _serve(settings, engine, **core_kw)


# -- figures for the issue note ---------------------------------------------------

TALLY: Counter[str] = Counter()
MEMORY: dict[str, float] = {}
WORST: dict[str, float] = {}  # largest value seen, e.g. a frame gap under attack


def note_worst(name: str, value: float) -> None:
    WORST[name] = max(WORST.get(name, float("-inf")), value)


def tally(**counts: int) -> None:
    TALLY.update(counts)


def note_memory(name: str, growth_mb: float) -> None:
    MEMORY[name] = max(MEMORY.get(name, float("-inf")), growth_mb)


# -- expected audio -----------------------------------------------------------------


@lru_cache(maxsize=1024)  # bounded: the soak must not measure this cache
def expected_frames(text: str, speed: float = 1.0, fmt: MediaFormat | None = None) -> list[bytes]:
    """The exact frames the gateway must send for one sentence spoken by the sim engine."""
    fmt = fmt or MediaFormat()
    engine = SimulatedEngine()
    request = SpeechCore.speakable(SynthesisRequest(text, speed=speed))  # as the core sends it
    pcm = np.concatenate(list(engine.synthesize(request)))
    encoder = UtteranceEncoder(engine.sample_rate, fmt)
    return encoder.feed(pcm) + encoder.finish()


def nominal_frames(text: str, speed: float = 1.0) -> int:
    """Frames implied by the engine's nominal duration (the resampler may add one)."""
    spoken = SpeechCore.speakable(SynthesisRequest(text)).text
    return math.ceil(SimulatedEngine.duration_s(spoken, speed) * 8000 / 160)


# -- an ordered transcript of one socket ------------------------------------------


DEFAULT_FRAME_BYTES = 160  # the default format: mulaw, 8 kHz, 20 ms


@dataclass
class Transcript:
    """Everything one `/v1/speak` socket received, in arrival order."""

    items: list[tuple[str, Any, float]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    @property
    def events(self) -> list[dict[str, Any]]:
        return [body for kind, body, _ in self.items if kind == "event"]

    @property
    def frames(self) -> list[bytes]:
        return [body for kind, body, _ in self.items if kind == "frame"]

    @property
    def frame_times(self) -> list[float]:
        return [t for kind, _, t in self.items if kind == "frame"]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == kind]

    def codes(self) -> list[str]:
        return [e["code"] for e in self.of("error")]

    def per_sentence(self) -> dict[int, tuple[str, list[bytes], dict[str, Any] | None]]:
        """Frames between `sentence` i and `sentence_end` i belong to sentence i."""
        out: dict[int, tuple[str, list[bytes], dict[str, Any] | None]] = {}
        current: int | None = None
        for kind, body, _ in self.items:
            if kind == "event" and body.get("type") == "sentence":
                current = body["index"]
                out[current] = (body["text"], [], None)
            elif kind == "event" and body.get("type") == "sentence_end":
                text, frames, _ = out[body["index"]]
                out[body["index"]] = (text, frames, body)
                current = None
            elif kind == "frame":
                assert current is not None, "a frame arrived outside any sentence"
                out[current][1].append(body)
        return out


async def record(
    ws: Any, transcript: Transcript, *, until: str | None = "done", limit_s: float = 30
) -> Transcript:
    """Receive into `transcript` until event `until`, the close, or `limit_s` (then fail)."""
    deadline = time.monotonic() + limit_s
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {until!r} within {limit_s} s: {transcript.events[-5:]}")
            try:
                msg = await asyncio.wait_for(ws.recv(), remaining)
            except TimeoutError:
                raise AssertionError(
                    f"no {until!r} within {limit_s} s: {transcript.events[-5:]}"
                ) from None
            now = time.monotonic()
            if isinstance(msg, bytes):
                # Far ahead of real time, frames due together arrive in one message.
                size = DEFAULT_FRAME_BYTES
                frames = [msg[i : i + size] for i in range(0, len(msg), size)]
                if len(msg) % size:
                    frames = [msg]
                transcript.items.extend(("frame", frame, now) for frame in frames)
                continue
            body = json.loads(msg)
            if body.get("type") in (None, "audio"):  # json/twilio formats: audio, not events
                transcript.items.append(("carrier", body, now))
                continue
            transcript.items.append(("event", body, now))
            if until is not None and body.get("type") == until:
                return transcript
    except websockets.ConnectionClosed as exc:
        transcript.close_code = exc.rcvd.code if exc.rcvd else 1006
        transcript.close_reason = exc.rcvd.reason if exc.rcvd else ""
    return transcript


def check_spoken(
    got: Transcript, texts: list[str], *, speed: float = 1.0, fmt: MediaFormat | None = None
) -> int:
    """Assert each text was spoken as one sentence, in order, byte-exact; return frame count."""
    spoken = got.per_sentence()
    assert [spoken[i][0] for i in sorted(spoken)] == texts, got.events
    total = 0
    for index in sorted(spoken):
        text, frames, end = spoken[index]
        assert end is not None, f"sentence {index} never ended"
        want = expected_frames(text, speed, fmt)
        assert len(frames) == len(want), (text, len(frames), len(want))
        assert frames == want, f"sentence {index} audio differs"
        assert end["audio_ms"] == FRAME_MS * len(frames)
        assert abs(len(frames) - nominal_frames(text, speed)) <= 1
        total += len(frames)
    tally(frames_checked=total, sentences_checked=len(spoken))
    return total


async def open_speak(base: str, **settings: Any) -> tuple[Any, dict[str, Any]]:
    settings.setdefault("lead_ms", UNPACED)
    ws = await websockets.connect(speak_url(base, **settings), max_size=2**22)
    ready = json.loads(await ws.recv())
    tally(sessions=1)
    return ws, ready


async def send_json(ws: Any, **body: Any) -> None:
    await ws.send(json.dumps(body))


async def speak_texts(
    base: str, texts: list[str], *, speed: float = 2.0, limit_s: float = 30, **settings: Any
) -> Transcript:
    """A well-behaved session: one text message per sentence, then close."""
    ws, ready = await open_speak(base, speed=speed, **settings)
    assert ready["type"] == "ready", ready
    async with ws:
        for text in texts:
            await send_json(ws, type="text", text=text + " ")
        await send_json(ws, type="close")
        return await record(ws, Transcript(), limit_s=limit_s)


BYSTANDER_TEXTS = ["All is well here.", "Nothing odd happened."]


async def bystander(base: str, *, rounds: int = 1, speed: float = 2.0) -> int:
    """A clean session running beside a fault: must be spoken exactly, with no error."""
    frames = 0
    for _ in range(rounds):
        got = await speak_texts(base, BYSTANDER_TEXTS, speed=speed)
        assert got.codes() == [], got.codes()
        assert got.of("done") and got.close_code in (None, 1000)
        frames += check_spoken(got, BYSTANDER_TEXTS, speed=speed)
    return frames


# -- server-side probes ---------------------------------------------------------------


def server_loop(running: Any) -> asyncio.AbstractEventLoop:
    """The event loop of this server's uvicorn thread."""
    loop = getattr(running, "loop", None)
    assert isinstance(loop, asyncio.AbstractEventLoop), "serve() exposes no loop"
    return loop


def server_task_names(running: Any) -> list[str]:
    loop = server_loop(running)

    async def names() -> list[str]:
        me = asyncio.current_task()
        return sorted(t.get_name() for t in asyncio.all_tasks() if t is not me)

    return asyncio.run_coroutine_threadsafe(names(), loop).result(5)


def live_sessions(running: Any) -> int:
    """Session and pipeline objects of this gateway still alive after a full collection."""
    from gateway.pipeline import SpeechPipeline
    from gateway.session import SpeakSession

    gc.collect()
    gw = running.gateway
    return sum(
        1
        for o in gc.get_objects()
        if (type(o) is SpeakSession and o.gw is gw)
        or (type(o) is SpeechPipeline and o.core is gw.core)
    )


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def metric(running: Any, name: str, **labels: str) -> float:
    value = running.gateway.metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


async def wait_until(pred: Callable[[], bool], limit_s: float = 10, what: str = "") -> None:
    deadline = time.monotonic() + limit_s
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit_s} s waiting for {what or pred}")
        await asyncio.sleep(0.02)


async def quiesced(running: Any, limit_s: float = 10) -> None:
    """Wait until the gateway holds no session, call or queued synthesis."""
    gw = running.gateway
    await wait_until(
        lambda: not gw.sessions and not gw.calls.all() and not gw.core.busy,
        limit_s,
        "the gateway to go idle",
    )
    gw.refresh_gauges()
    assert metric(running, "voxgate_active_sessions") == 0


def settings_query(**overrides: Any) -> dict[str, Any]:
    s = SpeakSettings().as_dict() | overrides
    return {k: v for k, v in s.items() if v is not None}


# -- carriers ---------------------------------------------------------------------------


def twilio_msg(event: str, sid: str | None = "MZrobust", **body: Any) -> str:
    msg: dict[str, Any] = {"event": event, **body}
    if sid is not None:
        msg["streamSid"] = sid
    return json.dumps(msg)


def twilio_start(sid: str, call_sid: str, **params: str) -> str:
    return twilio_msg(
        "start",
        sid,
        start={
            "streamSid": sid,
            "callSid": call_sid,
            "accountSid": "ACrobust",
            "tracks": ["inbound"],
            "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    )


def twilio_media(sid: str, payload: bytes | str, chunk: int = 1) -> str:
    data = payload if isinstance(payload, str) else base64.b64encode(payload).decode()
    return twilio_msg(
        "media",
        sid,
        media={"track": "inbound", "chunk": str(chunk), "timestamp": "20", "payload": data},
    )


def as_message(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BH", kind, len(payload)) + payload


def as_uuid(value: bytes) -> bytes:
    return as_message(0x01, value)


def flatten(chunks: Iterable[bytes]) -> bytes:
    return b"".join(chunks)
