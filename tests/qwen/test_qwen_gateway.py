"""Qwen3-TTS through the whole gateway: many sessions share one decode loop.

Eight sessions speaking at once on the tiny model must finish in well under
eight times one session's time, each must hear its first audio early, and
/metrics must show the batches. The sessions ask to run far ahead of real time
(`lead_ms`), so what is measured is synthesis, not playout pacing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from gateway.config import Settings
from telephony.g711 import ulaw_decode
from tests.e2e.client import speak
from tests.e2e.server import Running, serve
from tests.qwen.runtime_support import TEXTS
from tts_core.qwen import QwenEngine

FRAMES = 40  # codec frames per sentence: 3.2 s of audio


@pytest.fixture(scope="module")
def server(tiny_qwen_dir: Path) -> Iterator[Running]:
    engine = QwenEngine(
        str(tiny_qwen_dir), device="cpu", slots=8, seed=21,
        token_budget=lambda _t, _l: FRAMES + 1,
    )  # fmt: skip
    engine.load()
    settings = Settings(engine="qwen", audiosocket_port=0)
    with serve(settings, engine) as running:
        yield running
    engine.unload()


async def one(server: Running, text: str) -> tuple[float, float, int]:
    """(seconds to first audio, seconds to done, frames) for one session."""
    started = time.monotonic()
    got = await speak(server.ws, [text], lead_ms=60_000, encoding="mulaw")
    assert got.of("done") and not got.of("error")
    return got.frame_times[0] - started, time.monotonic() - started, len(got.frames)


async def test_eight_sessions_share_the_decode_loop(server: Running) -> None:
    await one(server, "Warming up.")
    solo = [await one(server, TEXTS[i]) for i in range(2)]
    solo_done = min(s[1] for s in solo)
    started = time.monotonic()
    together = await asyncio.gather(*(one(server, TEXTS[i]) for i in range(8)))
    wall = time.monotonic() - started
    # 3.2 s of audio each, 20 ms µ-law frames
    assert all(frames == FRAMES * 4 for *_, frames in together)
    assert wall < 4 * solo_done, f"8 sessions took {wall:.2f} s, one took {solo_done:.2f} s"
    first = sorted(t[0] for t in together)
    assert first[-1] < 0.5 * wall, "every session hears audio long before the batch is done"

    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{server.http}/metrics")).text
    batches = metrics_value(metrics, 'voxgate_engine_batch_size_bucket{le="4.0"}')
    steps = metrics_value(metrics, "voxgate_engine_steps_total")
    assert "voxgate_engine_slots 8.0" in metrics
    assert steps > batches, "some steps decoded more than 4 sessions at once"
    assert "voxgate_engine_request_rtf_count" in metrics
    assert "voxgate_engine_step_seconds_bucket" in metrics


def metrics_value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


async def test_the_audio_is_the_engines_own(server: Running) -> None:
    got = await speak(server.ws, ["Your table is ready."], lead_ms=60_000, encoding="mulaw")
    pcm = ulaw_decode(b"".join(got.frames))
    audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    assert audio.size == FRAMES * 640 and np.sqrt(np.mean(audio**2)) > 100
