"""Scenario `remote`: what the remote engine adds to first audio, against in-process.

Two gateways: the upstream runs Piper in-process; the front runs the remote
engine against the upstream's OpenAI dialect (`POST /v1/audio/speech`, raw PCM,
streamed). The same text goes through `/v1/speak` on each, one request at a
time, alternating, over open sockets, from the text leaving the client to the
first audio frame. The audio cache is off on both, so every request renders.
The difference of medians is the remote hop: an HTTP request on a kept-alive
connection, the upstream's dialect, and one more resampling.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import websockets

from . import servers
from .client import first_binary_s
from .common import Options, write_result
from .stats import summary

TEXT = "Please hold while I transfer your call."
VOICE = "en_US-joe-medium"


async def first_audio(ws_base: str) -> float:
    async with websockets.connect(f"{ws_base}/v1/speak?lead_ms=60000&language=en") as ws:
        await ws.recv()  # ready
        return await first_binary_s(ws, {"type": "text", "text": TEXT}, {"type": "flush"})


def run(opts: Options) -> dict[str, Any]:
    started = time.monotonic()
    rounds = 5 if opts.quick else 30
    with servers.gateway("remote-upstream", {"engine": "piper"}, opts.logs) as upstream:
        front_settings = {
            "engine": "remote", "remote_url": f"{upstream.http}/v1", "remote_voices": VOICE,
        }  # fmt: skip
        with servers.gateway("remote-front", front_settings, opts.logs) as front:

            async def trial() -> dict[str, list[float]]:
                times: dict[str, list[float]] = {"in_process": [], "remote": []}
                for base in (upstream.ws, front.ws):
                    await first_audio(base)  # warm-up: connections, first-use costs
                for _ in range(rounds):
                    times["in_process"].append(await first_audio(upstream.ws))
                    times["remote"].append(await first_audio(front.ws))
                return times

            times = asyncio.run(trial())
    data: dict[str, Any] = {
        "text": TEXT,
        "rounds": rounds,
        "first_audio_ms": {k: summary(v, 1000) for k, v in times.items()},
    }
    local, remote = (data["first_audio_ms"][k]["p50"] for k in ("in_process", "remote"))
    data["remote_adds_p50_ms"] = round(remote - local, 1)
    write_result(opts, "remote", data, started)
    return data
