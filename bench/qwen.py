"""Scenario `qwen`: how many calls one decode loop keeps fed, and how fast they start.

1. model: parameter count of the random-weight checkpoint against the
   published ~0.9B (is the 0.6B shape right?);
2. steps: per batched decode step at batch 1, 4, 16, 64, the loop's time per
   iteration and the decode step alone, aggregate frames per second and
   "x real time" (batch x 80 ms of audio per iteration); on CUDA with and
   without CUDA graphs;
3. stock: `generate_custom_voice`, one sentence at a time, same model;
4. calls: through a real gateway process, N callers at once each speaking one
   sentence of a fixed number of frames, paced in real time: first audio
   (text sent -> first frame) p50/p95, underruns, and the largest N with none.

`--shape tiny` (the default on a CPU) is the test model, where per-step
overhead dominates as kernel launches do on a GPU; `--shape 0.6b` (the default
on CUDA) is the released shape. Every figure is from random weights.
On a GPU host: `python -m bench qwen --device cuda` (see bench/README.md).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import servers
from .client import SessionLog, SpeakClient
from .common import Options, write_result
from .stats import summary

FRAME_S, LEAD_MS = 0.02, 200
TEXT = "Please hold while I transfer your call."


def _device(opts: Options) -> str:
    if opts.device:
        return opts.device
    from tts_core.cuda import cuda_available

    return "cuda" if cuda_available() else "cpu"


async def _caller(ws: str, start_at: float) -> tuple[SessionLog, float | None]:
    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    try:
        async with SpeakClient(ws, lead_ms=LEAD_MS, voice="ryan", language="en") as client:
            sent = await client.stream(TEXT, 1000.0)
            await client.close_and_wait(limit_s=300)
            return client.log, sent
    except Exception as exc:
        log = SessionLog()
        log.failure = f"{type(exc).__name__}: {exc}"
        return log, None


def _trial(server: servers.Server, n: int) -> dict[str, Any]:
    async def all_calls() -> list[tuple[SessionLog, float | None]]:
        t0 = time.perf_counter() + 0.2
        # Calls arrive 10 ms apart, as a burst of answered calls would.
        return list(await asyncio.gather(*(_caller(server.ws, t0 + i * 0.01) for i in range(n))))

    results = asyncio.run(all_calls())
    first, underruns, failures = [], 0, []
    for log, sent in results:
        if log.failure or log.errors:
            failures.append(log.failure or log.errors[0])
            continue
        if log.frame_times and sent is not None:
            first.append(log.frame_times[0] - sent)
        underruns += log.playout(FRAME_S, LEAD_MS / 1000).underruns
    return {
        "calls": n,
        "first_audio_ms": summary(first, 1000),
        "underruns": underruns,
        "ok": underruns == 0 and not failures,
        "failures": failures[:3],
    }


def calls(opts: Options, folder: Path, device: str, counts: list[int], frames: int) -> Any:
    """N concurrent callers through a gateway subprocess, growing N until it underruns."""
    settings = {
        "engine": "qwen", "model": folder, "device": device, "qwen_slots": max(counts),
        "qwen_max_frames": frames, "log_level": "warning", "cache_entries": 0,
        "idle_unload_s": 0, "max_sessions": max(counts) + 8,
        "tenant_max_sessions": max(counts) + 8,
    }  # fmt: skip
    env = {f"VOXGATE_{k.upper()}": str(v) for k, v in settings.items()}
    port = servers.free_port()
    argv = [sys.executable, "-m", "bench.qwen_server", "serve", "--port", str(port),
            "--audiosocket-port", "0"]  # fmt: skip
    spawned = servers.spawn("qwen", argv, env, port, opts.logs)
    server = servers.wait_started(spawned, "/healthz", 120)
    trials = []
    try:
        servers.wait_started(server, "/v1/voices", 600)  # loads the engine
        _trial(server, 1)  # warm-up: first-use costs are not a caller's
        for n in counts:
            trial = _trial(server, n)
            trials.append(trial)
            print(f"  qwen calls={n}: first audio {trial['first_audio_ms']}, "
                  f"underruns {trial['underruns']}", file=sys.stderr, flush=True)  # fmt: skip
            if not trial["ok"]:
                break
    finally:
        server.stop()
    clean = 0
    for t in trials:
        if not t["ok"]:
            break
        clean = t["calls"]
    return {"frames_per_call": frames, "trials": trials, "largest_without_underrun": clean}


def run(opts: Options) -> dict[str, Any]:
    from . import qwen_steps

    started = time.monotonic()
    device = _device(opts)
    shape = opts.qwen_shape or ("0.6b" if device.startswith("cuda") else "tiny")
    cache = Path(os.environ.get("VOXGATE_BENCH_CACHE", tempfile.gettempdir()))
    folder = Path(opts.model) if opts.model else qwen_steps.build(shape, cache)
    quick = opts.quick
    batches = [1, 4, 16] if quick else [1, 4, 16, 64]
    data: dict[str, Any] = {
        "label": f"random weights, {shape} shape" if not opts.model else str(folder),
        "device": device,
        "parameters": qwen_steps.parameters(folder),
    }
    graph_modes = [True, False] if device.startswith("cuda") else [False]
    data["steps"] = {}
    for graphs in graph_modes:
        engine = qwen_steps.load(folder, device, slots=max(batches), graphs=graphs)
        try:
            key = "cuda_graphs" if engine.resolved.get("cuda_graphs") else "eager"
            data["load_s"] = round(engine.load_s, 1)
            data["steps"][key] = qwen_steps.step_times(
                engine, batches, warm=3, steps=10 if quick else 30
            )
        finally:
            engine.unload()
    frames = 40 if quick else 100
    runs = 1 if quick else 3
    data["stock"] = qwen_steps.stock_speed(folder, device, frames=frames // 2, runs=runs)
    small = shape == "tiny" or device.startswith("cuda")
    if small:
        counts = [1, 8, 32] if quick else [1, 8, 32, 48, 64, 96]
        data["calls"] = calls(opts, folder, device, counts, frames)
    else:
        data["calls"] = {"skipped": "a 0.6B-shaped model on this CPU runs slower than real time"}
    path = write_result(opts, "qwen", data, started)
    plot(data, path.with_suffix(".png"))
    return data


def plot(data: dict[str, Any], path: Path) -> None:
    from .plots import _save, plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for mode, rows in data["steps"].items():
        xs = [r["batch"] for r in rows]
        axes[0].plot(xs, [r["frames_per_s"] for r in rows], "o-", label=f"batched, {mode}")
    stock = data.get("stock", {})
    if stock:
        axes[0].axhline(stock["frames_per_s"], color="grey", ls="--", label="stock, sequential")
    axes[0].axhline(12.5, color="red", lw=0.8, label="one call in real time")
    axes[0].set_xscale("log", base=2)
    axes[0].set_xlabel("sentences per step")
    axes[0].set_title(f"aggregate codec frames/s ({data['label']})", fontsize=9)
    trials = data.get("calls", {}).get("trials", [])
    if trials:
        ns = [t["calls"] for t in trials]
        axes[1].plot(ns, [t["first_audio_ms"]["p50"] or 0 for t in trials], "o-", label="p50")
        axes[1].plot(ns, [t["first_audio_ms"]["p95"] or 0 for t in trials], "o-", label="p95")
        axes[1].set_xlabel("concurrent calls through the gateway")
        axes[1].set_title("first audio (ms)", fontsize=9)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, path)
