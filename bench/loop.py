"""Scenario `loop`: does the gateway still answer while its engine is saturated?

Inference runs on one worker thread so the event loop stays free; this
checks it from outside. A probe sends `GET /healthz` every 50 ms on a
kept-alive connection and records the latency, first with the engine idle,
then while busy sessions keep the engine queue non-empty (each sends a long
answer unpaced, waits for `flushed`, and repeats). Each engine of `--engine`
(default piper and sim):

- `sim` at RTF 1.0: the inference thread sleeps, so any slowdown is the
  gateway's own design (a blocked loop would show whole synthesis times);
- `piper`: real ONNX inference competing for the same cores, the figure a
  CPU-only deployment sees.

Saturation is shown, not assumed: the engine's busy share over the window
comes from `voxgate_synthesis_seconds_sum`, and the queue depth is sampled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from . import servers
from .client import SpeakClient
from .common import Options, write_result
from .http11 import Connection
from .plots import plot_loop
from .scrape import metrics_text, parse
from .stats import summary
from .texts import MONOLOGUE

PROBE_INTERVAL_S = 0.05
BUSY_SESSIONS = 3


async def _probe(port: int, seconds: float) -> list[float]:
    conn = await Connection("127.0.0.1", port).open()
    samples: list[float] = []
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter()
            status, _ = await asyncio.wait_for(conn.get("/healthz"), 10)
            if status == 200:
                samples.append(time.perf_counter() - t)
            await asyncio.sleep(max(0.0, PROBE_INTERVAL_S - (time.perf_counter() - t)))
    finally:
        await conn.close()
    return samples


async def _busy(ws: str, stop: asyncio.Event) -> None:
    async with SpeakClient(ws, lead_ms=60_000) as client:
        while not stop.is_set():
            await client.text(MONOLOGUE + " ")
            await client.flush(limit_s=300)


async def _queue_depths(server: servers.Server, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        text = await asyncio.to_thread(metrics_text, server)
        out.append(parse(text, "voxgate_engine_queue_depth"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _saturated(server: servers.Server, seconds: float) -> tuple[list[float], list[float]]:
    stop = asyncio.Event()
    depths: list[float] = []
    busy = [asyncio.create_task(_busy(server.ws, stop)) for _ in range(BUSY_SESSIONS)]
    await asyncio.sleep(1.0)  # let the queue fill
    sampler = asyncio.create_task(_queue_depths(server, stop, depths))
    try:
        samples = await _probe(server.port, seconds)
    finally:
        stop.set()
        for task in busy:
            task.cancel()
        await asyncio.gather(*busy, sampler, return_exceptions=True)
    return samples, depths


def _condition(server: servers.Server, seconds: float, busy: bool) -> dict[str, Any]:
    synth0 = parse(metrics_text(server), "voxgate_synthesis_seconds_sum")
    cpu0, t0 = server.cpu(), time.perf_counter()
    if busy:
        samples, depths = asyncio.run(_saturated(server, seconds))
    else:
        samples, depths = asyncio.run(_probe(server.port, seconds)), []
    wall = time.perf_counter() - t0
    synth = parse(metrics_text(server), "voxgate_synthesis_seconds_sum") - synth0
    return {
        "latency_ms": summary(samples, 1000, 2),
        "engine_busy_share": round(min(1.0, synth / wall), 3),
        "queue_depth_mean": round(sum(depths) / len(depths), 2) if depths else 0.0,
        "server_cpu_util": round((server.cpu() - cpu0) / wall, 3),
        "samples_ms": [round(s * 1000, 3) for s in samples],
    }


def run(opts: Options) -> dict[str, Any]:
    started = time.monotonic()
    seconds = 8.0 if opts.quick else 30.0
    conditions: dict[str, Any] = {}
    for engine in opts.engines:
        label = "sim rtf 1.0" if engine == "sim" else engine
        settings = (
            {"engine": "sim", "sim_rtf": 1.0} if engine == "sim" else opts.engine_settings(engine)
        )
        try:
            with servers.gateway(f"loop-{settings['engine']}", settings, opts.logs) as server:
                conditions[f"{label}, idle"] = _condition(server, seconds / 2, busy=False)
                conditions[f"{label}, saturated"] = _condition(server, seconds, busy=True)
        except Exception as exc:
            conditions[f"{label}, saturated"] = {"error": f"{type(exc).__name__}: {exc}"}
    data = {
        "probe_interval_ms": PROBE_INTERVAL_S * 1000,
        "busy_sessions": BUSY_SESSIONS,
        "conditions": conditions,
    }
    path = write_result(opts, "loop", data, started)
    plot_loop(data, path.with_suffix(".png"))
    return data
