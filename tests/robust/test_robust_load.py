"""Load and soak: many paced sessions at once, every frame accounted for, memory flat.

Load: N sessions stream text like an LLM (faster than speech) for about T
seconds of audio each, paced as a real call with the default 200 ms lead. For
every sentence the frames between its `sentence` and `sentence_end` events
must be exactly the frames its audio encodes to (so none lost, duplicated or
reordered), and the arrival times must keep a listener fed: measured against a
playout clock started at the first frame, no frame arrives after it was due
(no underrun) and none arrives more than the lead early (pacing, not bursts).

Soak: sessions come and go for a while at lower load; RSS and live session
objects are sampled, and memory after warm-up must stay flat.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from robust_support import (
    FRAME_MS,
    Transcript,
    check_spoken,
    live_sessions,
    metric,
    note_memory,
    open_speak,
    quiesced,
    record,
    rss_mb,
    send_json,
    tally,
)

from telephony.media import MediaFormat
from tts_core.sim_engine import SimulatedEngine

LEAD_MS = 200
LOAD_SIZES = [
    pytest.param(10, 5.0, id="small"),
    pytest.param(100, 60.0, id="full", marks=[pytest.mark.robust_full, pytest.mark.timeout(300)]),
]


def answer(session: int, seconds: float) -> list[str]:
    """Sentences adding up to about `seconds` of audio, distinct per session."""
    texts: list[str] = []
    while sum(SimulatedEngine.duration_s(t) for t in texts) < seconds:
        texts.append(f"Caller {session} hears sentence {len(texts)} right on time.")
    return texts


async def paced_session(base: str, n: int, seconds: float) -> tuple[Transcript, list[str]]:
    texts = answer(n, seconds)
    stream = " ".join(texts)
    ws, ready = await open_speak(base, lead_ms=LEAD_MS)
    assert ready["type"] == "ready"
    async with ws:
        listen = asyncio.ensure_future(record(ws, Transcript(), limit_s=seconds * 3 + 30))
        for i in range(0, len(stream), 8):  # ~8 characters every 10 ms: an LLM, not a speaker
            await send_json(ws, type="text", text=stream[i : i + 8])
            await asyncio.sleep(0.01)
        await send_json(ws, type="close")
        return await listen, texts


def pacing(got: Transcript) -> tuple[float, float]:
    """(worst lateness, worst earliness) in ms against a playout clock from the first frame."""
    times = got.frame_times
    start = times[0]
    late = max((t - (start + k * FRAME_MS / 1000)) * 1000 for k, t in enumerate(times))
    early = max(((start + k * FRAME_MS / 1000) - t) * 1000 for k, t in enumerate(times))
    return late, early


async def run_load(base: str, sessions: int, seconds: float) -> dict[str, Any]:
    """Run the paced sessions and check them; the figures, with failures as text."""
    results = await asyncio.gather(
        *(paced_session(base, n, seconds) for n in range(sessions)), return_exceptions=True
    )
    summary: dict[str, Any] = {"frames": 0, "lates": 0, "worst_late": 0.0, "worst_early": 0.0}
    failures: list[str] = []
    for result in results:
        if isinstance(result, BaseException):
            failures.append(repr(result)[:300])
            continue
        got, texts = result
        try:
            assert got.codes() == [] and got.events[-1]["type"] == "done", got.events[-3:]
            summary["frames"] += check_spoken(got, texts, fmt=MediaFormat())
        except AssertionError as exc:
            failures.append(str(exc)[:300])
            continue
        late, early = pacing(got)
        summary["worst_late"] = max(summary["worst_late"], late)
        summary["worst_early"] = max(summary["worst_early"], early)
        summary["lates"] += late > LEAD_MS
    summary["failures"] = failures
    return summary


def load_in_child(base: str, sessions: int, seconds: float) -> dict[str, Any]:
    """The clients run in their own process, so the gateway is measured, not our GIL."""
    here = Path(__file__).resolve()
    code = (
        "import asyncio, json, sys\n"
        f"sys.path.insert(0, {str(here.parent)!r})\n"
        "from test_robust_load import run_load\n"
        f"print(json.dumps(asyncio.run(run_load({base!r}, {sessions}, {seconds}))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=seconds * 3 + 120,
        cwd=here.parents[2],
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("sessions", "seconds"), LOAD_SIZES)
async def test_concurrent_sessions_lose_no_frame_and_keep_pace(sim_server, sessions, seconds):
    underruns_before = metric(sim_server, "voxgate_underruns_total")
    summary = await asyncio.to_thread(load_in_child, sim_server.ws, sessions, seconds)
    assert summary["failures"] == [], summary["failures"][:5]
    worst_late, worst_early = summary["worst_late"], summary["worst_early"]
    tally(sessions=sessions, load_sessions=sessions, load_frames=summary["frames"], frames_lost=0)
    tally(**{f"load_worst_lateness_ms_{sessions}": round(worst_late)})
    tally(**{f"load_worst_earliness_ms_{sessions}": round(worst_early)})
    # A listener that starts at the first frame holds LEAD_MS in hand: later than that is a gap.
    lates = summary["lates"]
    assert lates == 0, f"{lates} sessions ran dry; worst lateness {worst_late:.0f} ms"
    # Never further ahead than the lead (plus one frame of scheduling slack).
    assert worst_early <= LEAD_MS + FRAME_MS + 5, worst_early
    assert metric(sim_server, "voxgate_underruns_total") == underruns_before
    await quiesced(sim_server)


SOAK_SIZES = [
    pytest.param(4, 12.0, id="small"),
    pytest.param(20, 600.0, id="full", marks=[pytest.mark.robust_full, pytest.mark.timeout(900)]),
]


async def short_call(base: str, n: int) -> int:
    texts = [f"Soak call {n % 64} says hello.", "And then goodbye."]  # bounded: cached
    ws, _ = await open_speak(base, speed=2.0)
    async with ws:
        for text in texts:
            await send_json(ws, type="text", text=text + " ")
        await send_json(ws, type="close")
        got = await record(ws, Transcript(), limit_s=20)
    assert got.codes() == []
    return check_spoken(got, texts, speed=2.0)


@pytest.mark.parametrize(("parallel", "seconds"), SOAK_SIZES)
async def test_soak_memory_stays_flat(sim_server, parallel, seconds) -> None:
    samples: list[tuple[float, float]] = []
    calls = 0
    start = time.monotonic()

    async def worker(w: int) -> None:
        nonlocal calls
        i = 0
        while time.monotonic() - start < seconds:
            await short_call(sim_server.ws, w * 100_000 + i)
            calls += 1
            i += 1

    async def sampler() -> None:
        while time.monotonic() - start < seconds:
            samples.append((time.monotonic() - start, rss_mb()))
            await asyncio.sleep(max(0.5, seconds / 40))

    await asyncio.gather(sampler(), *(worker(w) for w in range(parallel)))
    await quiesced(sim_server)
    assert live_sessions(sim_server) == 0
    # Flat: after the first quarter (warm-up), the RSS never exceeds its warm level by much.
    warm = [rss for t, rss in samples if t >= seconds / 4]
    growth = max(warm) - warm[0]
    note_memory(f"soak_{int(seconds)}s", growth)
    tally(soak_calls=calls, sessions=0)
    assert calls >= parallel
    assert growth < 16, f"RSS grew {growth:.1f} MiB over {calls} calls in {seconds:.0f} s"
