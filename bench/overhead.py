"""Scenario `overhead`: what the gateway itself costs, with the engine out of the way.

The engine is the simulated one at real-time factor 0 with the audio cache
on, so after the first rendering every sentence is pre-rendered PCM handed
back at once; what remains is the gateway: segmentation, resampling, G.711,
framing, pacing and the WebSocket writes.

1. CPU seconds of the server process per second of audio delivered, for the
   `binary`, `twilio` and `audiosocket` output formats (paced at the default
   200 ms lead, several sessions at once).
2. A ramp of concurrent paced sessions (10, 25, 50, 100, 200, ...): a level
   passes when pacing jitter p99 stays under 5 ms and no listener underruns.
   Jitter is each frame's lateness against the pacer's ideal schedule, seen
   at the client (see `bench.listener`); the client shares the machine, so on
   a small host its own CPU use and event-loop lag are reported next to the
   server's, with the latency of `/healthz` probed every 50 ms during the level
   (a stalled server loop shows there).
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from typing import Any

from . import servers
from .client import LoopLag, SessionLog, SpeakClient
from .common import Options, write_result
from .http11 import Connection
from .plots import plot_overhead
from .stats import summary
from .texts import TURNS

FRAME_S = 0.02
LEAD_MS = 200
JITTER_LIMIT_MS = 5.0
RAMP = (10, 25, 50, 100, 200, 400, 800)
FORMATS: dict[str, dict[str, Any]] = {
    "binary": {"format": "binary", "encoding": "mulaw"},
    "twilio": {
        "format": "twilio",
        "encoding": "mulaw",
        "stream_sid": "MZbench0000000000000000000000",
    },
    "audiosocket": {"format": "audiosocket", "encoding": "pcm16"},
}


def _text(seconds: float) -> str:
    """Answers joined until they hold about `seconds` of simulated speech (65 ms/char)."""
    parts: list[str] = []
    i = 0
    while sum(len(p) + 1 for p in parts) * 0.065 < seconds:
        parts.append(TURNS[i % len(TURNS)])
        i += 1
    return " ".join(parts)


async def _one(
    ws: str, query: dict[str, Any], text: str, start_at: float, limit_s: float
) -> SessionLog:
    delay = start_at - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
    try:
        async with SpeakClient(ws, lead_ms=LEAD_MS, **query) as client:
            await client.text(text)
            await client.close_and_wait(limit_s=limit_s)
            return client.log
    except Exception as exc:
        log = SessionLog()
        log.failure = f"{type(exc).__name__}: {exc}"
        return log


async def _probe_health(port: int, stop: asyncio.Event, out: list[float]) -> None:
    """`/healthz` every 50 ms: a stalled server event loop shows here, whoever stalled it."""
    conn = await Connection("127.0.0.1", port).open()
    try:
        while not stop.is_set():
            t = time.perf_counter()
            await asyncio.wait_for(conn.get("/healthz"), 30)
            out.append(time.perf_counter() - t)
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def _batch(
    ws: str, n: int, query: dict[str, Any], text: str, spread_s: float, seed: int, limit_s: float
) -> tuple[list[SessionLog], list[float], list[float]]:
    """n sessions starting at random moments within `spread_s` (calls do not start in step)."""
    rng = random.Random(seed)
    t0 = time.perf_counter() + 0.2
    jobs = [_one(ws, query, text, t0 + rng.uniform(0, spread_s), limit_s) for _ in range(n)]
    stop = asyncio.Event()
    health: list[float] = []
    port = int(ws.rsplit(":", 1)[1])
    probe = asyncio.create_task(_probe_health(port, stop, health))
    with LoopLag() as lag:
        logs = list(await asyncio.gather(*jobs))
    stop.set()
    await asyncio.gather(probe, return_exceptions=True)
    return logs, lag.lag_s, health


def _measure(
    server: servers.Server, n: int, query: dict[str, Any], text: str, spread_s: float, seed: int
) -> tuple[list[SessionLog], dict[str, Any]]:
    audio_guess = len(text) * 0.065
    limit = audio_guess * 3 + 30
    gc.collect()
    gc.disable()  # a client GC pause would read as server jitter
    try:
        cpu0, wall0, client0 = server.cpu(), time.perf_counter(), time.process_time()
        logs, lag, health = asyncio.run(_batch(server.ws, n, query, text, spread_s, seed, limit))
        wall = time.perf_counter() - wall0
        usage = {
            "wall_s": wall,
            "server_cpu_s": server.cpu() - cpu0,
            "client_cpu_s": time.process_time() - client0,
            "client_loop_lag_ms": summary(lag, 1000, 2),
            "server_healthz_ms": summary(health, 1000, 2),
        }
    finally:
        gc.enable()
    return logs, usage


def _cost(server: servers.Server, n: int, fmt: str, text: str, seed: int) -> dict[str, Any]:
    logs, usage = _measure(server, n, FORMATS[fmt], text, 1.0, seed)
    audio_s = sum(len(log.frame_times) for log in logs) * FRAME_S
    failures = [log.failure for log in logs if log.failure]
    return {
        "sessions": n,
        "audio_s": round(audio_s, 1),
        "server_cpu_s": round(usage["server_cpu_s"], 3),
        "cpu_ms_per_audio_s": round(usage["server_cpu_s"] / audio_s * 1000, 3) if audio_s else None,
        "realtime_streams_per_core": round(audio_s / usage["server_cpu_s"], 1)
        if usage["server_cpu_s"]
        else None,
        "failures": failures[:3],
    }


def _level(server: servers.Server, n: int, text: str, seed: int) -> dict[str, Any]:
    under0 = _underruns(server)
    logs, usage = _measure(server, n, FORMATS["binary"], text, 1.0, seed)
    lateness: list[float] = []
    underruns = 0
    frames = 0
    for log in logs:
        playout = log.playout(FRAME_S, LEAD_MS / 1000)
        lateness += playout.lateness_s
        underruns += playout.underruns
        frames += playout.frames
    failures = [log.failure for log in logs if log.failure or log.errors]
    jitter = summary(lateness, 1000, 2)
    server_underruns = _underruns(server) - under0
    ok = (
        not failures
        and underruns == 0
        and server_underruns == 0
        and jitter["p99"] is not None
        and jitter["p99"] < JITTER_LIMIT_MS
    )
    return {
        "sessions": n,
        "ok": ok,
        "jitter_ms": jitter,
        "underruns": underruns,
        "server_underruns": server_underruns,
        "audio_s": round(frames * FRAME_S, 1),
        "wall_s": round(usage["wall_s"], 1),
        "server_cpu_util": round(usage["server_cpu_s"] / usage["wall_s"], 3),
        "client_cpu_util": round(usage["client_cpu_s"] / usage["wall_s"], 3),
        "client_loop_lag_ms": usage["client_loop_lag_ms"],
        "server_healthz_ms": usage["server_healthz_ms"],
        "failures": len(failures),
        "failure_examples": [f.failure or f.errors[:1] for f in logs if f.failure or f.errors][:3],
    }


def _underruns(server: servers.Server) -> int:
    from .scrape import metric

    return int(metric(server, "voxgate_underruns_total"))


def run(opts: Options) -> dict[str, Any]:
    started = time.monotonic()
    cost_sessions = 10 if opts.quick else 25
    seconds = 6.0 if opts.quick else 15.0
    text = _text(seconds)
    ceiling = min(opts.max_sessions, 200 if opts.quick else 800)
    settings = {
        "engine": "sim",
        "sim_rtf": 0,
        "cache_entries": 256,  # the "pre-rendered" engine: every repeat is a cache hit
        "max_sessions": ceiling + 10,
        "max_queued_sentences": 64,
    }
    formats: dict[str, Any] = {}
    ramp: list[dict[str, Any]] = []
    with servers.gateway("overhead", settings, opts.logs) as server:
        _measure(server, 2, FORMATS["binary"], text, 0.0, opts.seed)  # render once: fill the cache
        for fmt in FORMATS:
            formats[fmt] = _cost(server, cost_sessions, fmt, text, opts.seed)
        for n in RAMP:
            if n > ceiling:
                break
            level = _level(server, n, text, opts.seed + n)
            ramp.append(level)
            if not level["ok"]:
                break
    passed = [lv["sessions"] for lv in ramp if lv["ok"]]
    data = {
        "engine": "sim (rtf 0, cached: pre-rendered PCM)",
        "audio_per_session_s": round(len(text) * 0.065, 1),
        "lead_ms": LEAD_MS,
        "jitter_limit_ms": JITTER_LIMIT_MS,
        "formats": formats,
        "ramp": ramp,
        "max_sessions_ok": max(passed) if passed else 0,
        "ramp_ceiling": ceiling,
    }
    path = write_result(opts, "overhead", data, started)
    plot_overhead(data, path.with_suffix(".png"))
    return data
