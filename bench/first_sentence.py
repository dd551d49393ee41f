"""Time to first audio for one short first sentence, and the engine's own speed.

    python -m bench.first_sentence [--runs 20] [--engine piper]

Two figures a newcomer asks first: how long after sending "Please hold while I
transfer your call." does the first 20 ms frame arrive (a fresh session each
run, text sent whole, the output cache off), and how fast does the engine
render that sentence on its own (time to its first chunk and real-time factor,
in this process, after one warm-up). Medians over `--runs`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import websockets

from tts_core import SynthesisRequest, create_engine

from .client import first_binary_s
from .servers import gateway

SENTENCE = "Please hold while I transfer your call."


def engine_figures(engine_name: str, runs: int) -> dict[str, float]:
    engine = create_engine(engine_name)
    engine.load()
    firsts, rtfs = [], []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        first = None
        samples = 0
        for chunk in engine.synthesize(SynthesisRequest(SENTENCE)):
            first = first or time.perf_counter() - t0
            samples += len(chunk)
        total = time.perf_counter() - t0
        if i:  # the first call warms the runtime up
            firsts.append(first or total)
            rtfs.append(total / (samples / engine.sample_rate))
    return {
        "first_chunk_ms_p50": round(statistics.median(firsts) * 1000, 1),
        "rtf_p50": round(statistics.median(rtfs), 3),
    }


async def gateway_ttfa(base: str, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        async with websockets.connect(f"{base}/v1/speak?lead_ms=60000") as ws:
            await ws.recv()  # ready
            first = {"type": "text", "text": SENTENCE}
            out.append(await first_binary_s(ws, first, {"type": "flush"}) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--engine", default="piper")
    args = parser.parse_args()
    figures = {"sentence": SENTENCE, "runs": args.runs, "engine": args.engine}
    figures.update(engine_figures(args.engine, args.runs))
    with (
        tempfile.TemporaryDirectory() as tmp,
        gateway("voxgate", {"engine": args.engine}, Path(tmp)) as server,
    ):
        ttfa = asyncio.run(gateway_ttfa(f"ws://127.0.0.1:{server.port}", args.runs))
    figures["gateway_ttfa_ms_p50"] = round(statistics.median(ttfa), 1)
    figures["gateway_ttfa_ms_min_max"] = [round(min(ttfa), 1), round(max(ttfa), 1)]
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
