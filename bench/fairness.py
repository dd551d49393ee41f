"""Scenario `fairness`: many callers sharing one slow engine, EDF versus FIFO.

The engine is the simulated one with a fixed real-time factor (it sleeps
RTF x audio duration in the inference thread, like a model would compute),
so one engine can keep at most 1/RTF callers talking without gaps. K
callers start half a second apart and each streams a three-sentence answer
at the LLM token rate, paced at the default 200 ms lead. For each K and for
each scheduler (`VOXGATE_SCHEDULER=edf`, earliest playout deadline first,
and `fifo`, arrival order) the scenario counts:

- underruns: a listener waiting for audio after its first frame, while the
  sentence it waited for had already been released to the gateway (gaps the
  application's own text caused are excused and counted apart), both at the
  client (see `bench.listener`) and by the gateway's `voxgate_underruns_total`;
- first audio per caller: first text message -> first frame.

It reports, per scheduler, the largest K with no underrun (every smaller K
clean too), against the theoretical limit 1/RTF.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from . import servers
from .client import SessionLog, SpeakClient
from .common import Options, write_result
from .plots import plot_fairness
from .scrape import metric
from .stats import summary
from .texts import STEADY

FRAME_S = 0.02
LEAD_MS = 200
STAGGER_S = 0.5
SCHEDULERS = ("edf", "fifo")


async def _caller(
    ws: str, text: str, start_at: float, tokens_per_s: float
) -> tuple[SessionLog, float | None]:
    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    try:
        async with SpeakClient(ws, lead_ms=LEAD_MS) as client:
            first_sent = await client.stream(text, tokens_per_s)
            await client.close_and_wait(limit_s=120)
            return client.log, first_sent
    except Exception as exc:
        log = SessionLog()
        log.failure = f"{type(exc).__name__}: {exc}"
        return log, None


async def _trial(ws: str, k: int, tokens_per_s: float) -> list[tuple[SessionLog, float | None]]:
    t0 = time.perf_counter() + 0.2
    jobs = [
        _caller(ws, STEADY[i % len(STEADY)], t0 + i * STAGGER_S, tokens_per_s) for i in range(k)
    ]
    return list(await asyncio.gather(*jobs))


def _score(server: servers.Server, k: int, tokens_per_s: float) -> dict[str, Any]:
    under0 = metric(server, "voxgate_underruns_total")
    results = asyncio.run(_trial(server.ws, k, tokens_per_s))
    server_underruns = int(metric(server, "voxgate_underruns_total") - under0)
    underruns = starved = 0
    gap_s = 0.0
    first_audio: list[float] = []
    per_session = []
    failures = []
    for log, first_sent in results:
        if log.failure or log.errors:
            failures.append(log.failure or log.errors[0])
        playout = log.playout(FRAME_S, LEAD_MS / 1000)
        underruns += playout.underruns
        starved += playout.starved
        gap_s += playout.underrun_s
        fa = log.frame_times[0] - first_sent if log.frame_times and first_sent else None
        if fa is not None:
            first_audio.append(fa)
        per_session.append(
            {
                "underruns": playout.underruns,
                "gap_ms": round(playout.underrun_s * 1000, 1),
                "first_audio_ms": round(fa * 1000, 1) if fa is not None else None,
                "queue_ms": [s.end["queue_ms"] for s in log.sentences if s.end],
            }
        )
    return {
        "sessions": k,
        "underruns": underruns,
        "server_underruns": server_underruns,
        "sessions_with_underrun": sum(1 for s in per_session if s["underruns"]),
        "underrun_ms_total": round(gap_s * 1000, 1),
        "text_starved_gaps": starved,
        "first_audio_ms": summary(first_audio, 1000),
        "ok": underruns == 0 and server_underruns == 0 and not failures,
        "failures": failures[:3],
        "per_session": per_session,
    }


def largest_clean(trials: list[dict[str, Any]]) -> int:
    """The largest K such that K and every smaller K tried ran without underrun."""
    best = 0
    for t in sorted(trials, key=lambda t: t["sessions"]):
        if not t["ok"]:
            break
        best = t["sessions"]
    return best


def run(opts: Options) -> dict[str, Any]:
    started = time.monotonic()
    rtf = opts.sim_rtf
    limit = 1.0 / rtf
    k_max = math.ceil(limit * 1.5)
    k_values = list(range(max(1, math.floor(limit / 2)), k_max + 1))
    schedulers: dict[str, Any] = {}
    for name in SCHEDULERS:
        settings = {"engine": "sim", "sim_rtf": rtf, "scheduler": name}
        trials: list[dict[str, Any]] = []
        failed = 0
        with servers.gateway(f"fairness-{name}", settings, opts.logs) as server:
            for k in k_values:
                trial = _score(server, k, opts.tokens_per_s)
                trials.append(trial)
                failed += not trial["ok"]
                # Past the limit and failing: more callers only fail harder.
                if failed >= (1 if opts.quick else 2) and k >= limit:
                    break
        schedulers[name] = {"trials": trials, "largest_k_without_underrun": largest_clean(trials)}
    data = {
        "engine": "sim",
        "rtf": rtf,
        "theoretical_limit": round(limit, 2),
        "stagger_s": STAGGER_S,
        "lead_ms": LEAD_MS,
        "tokens_per_s": opts.tokens_per_s,
        "schedulers": schedulers,
    }
    path = write_result(opts, "fairness", data, started)
    plot_fairness(data, path.with_suffix(".png"))
    return data
