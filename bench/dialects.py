"""Scenario `dialects`: first-byte time of each drop-in dialect against `/v1/speak`.

The same two-sentence text goes to one gateway through each door, one request
at a time, alternating doors so that drift (a warming CPU, a neighbour's load)
spreads over all of them. Measured from the moment the text leaves the client
(the WebSocket already open, the HTTP connection kept alive) to the first byte
of audio, which is the first sentence rendered and framed:

- `/v1/speak`: `text` + `flush`, first binary frame (pcm16 24 kHz, unpaced);
- OpenAI `POST /v1/audio/speech`: `pcm` and `mp3`, first body byte;
- ElevenLabs `stream-input`: the text with `flush`, first `audio` message (pcm_24000);
- Deepgram speak: `Speak` + `Flush`, first binary message (linear16 24 kHz).

The audio cache is off, so every request is a full synthesis: the differences
are what each adapter adds on top of the shared pipeline.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import websockets

from . import servers
from .client import first_binary_s
from .common import Options, write_result
from .stats import summary

TEXT = "Please hold while I transfer your call. It will only take a moment."


async def speak(ws_base: str, _http: httpx.AsyncClient) -> float:
    async with websockets.connect(
        f"{ws_base}/v1/speak?encoding=pcm16&sample_rate=24000&lead_ms=60000"
    ) as ws:
        await ws.recv()  # ready
        return await first_binary_s(ws, {"type": "text", "text": TEXT}, {"type": "flush"})


def openai(fmt: str) -> Callable[[str, httpx.AsyncClient], Awaitable[float]]:
    async def run(_ws_base: str, http: httpx.AsyncClient) -> float:
        body = {"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": fmt}
        t0 = time.perf_counter()
        async with http.stream("POST", "/v1/audio/speech", json=body) as response:
            async for chunk in response.aiter_raw():
                if chunk:
                    return time.perf_counter() - t0
        raise RuntimeError("no audio")

    return run


async def elevenlabs(ws_base: str, _http: httpx.AsyncClient) -> float:
    url = f"{ws_base}/elevenlabs/v1/text-to-speech/any/stream-input?output_format=pcm_24000"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"text": " "}))
        t0 = time.perf_counter()
        await ws.send(json.dumps({"text": TEXT + " ", "flush": True}))
        while not json.loads(await ws.recv()).get("audio"):
            pass
        return time.perf_counter() - t0


async def deepgram(ws_base: str, _http: httpx.AsyncClient) -> float:
    url = f"{ws_base}/deepgram/v1/speak?encoding=linear16&sample_rate=24000"
    async with websockets.connect(url) as ws:
        await ws.recv()  # Metadata
        return await first_binary_s(ws, {"type": "Speak", "text": TEXT}, {"type": "Flush"})


DOORS: dict[str, Callable[[str, httpx.AsyncClient], Awaitable[float]]] = {
    "/v1/speak (pcm16 24 kHz)": speak,
    "openai pcm": openai("pcm"),
    "openai mp3": openai("mp3"),
    "elevenlabs stream-input pcm_24000": elevenlabs,
    "deepgram speak linear16 24 kHz": deepgram,
}


async def measure(port: int, runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in DOORS}
    ws_base = f"ws://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        for door in DOORS.values():  # one warm-up each: imports, first codec setup
            await door(ws_base, http)
        for _ in range(runs):
            for name, door in DOORS.items():
                samples[name].append(await door(ws_base, http))
    return samples


def run(opts: Options) -> None:
    started = time.monotonic()
    runs = 5 if opts.quick else 30
    engine = "piper" if "piper" in opts.engines else opts.engines[0]
    with servers.gateway("voxgate", opts.engine_settings(engine), opts.logs) as server:
        samples = asyncio.run(measure(server.port, runs))
    base = summary(samples["/v1/speak (pcm16 24 kHz)"], 1000)
    doors: dict[str, Any] = {}
    for name, values in samples.items():
        s = summary(values, 1000)
        doors[name] = {"first_byte_ms": s, "vs_speak_p50_ms": round(s["p50"] - base["p50"], 1)}
    write_result(opts, "dialects", {"engine": engine, "text": TEXT, "runs": runs,
                                    "doors": doors}, started)  # fmt: skip
