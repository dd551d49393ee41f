"""`voxgate serve` runs the gateway; `voxgate say` speaks once into a WAV file."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import wave
from pathlib import Path

import numpy as np

from .config import ConfigError, Settings, add_arguments, from_args


def _say(args: argparse.Namespace) -> int:
    from tts_core import EngineError, SpeechCore, SynthesisRequest, create_engine

    settings = from_args(args)
    engine = create_engine(settings.engine, **settings.engine_options())

    async def render() -> tuple[np.ndarray, float]:
        core = SpeechCore(engine, idle_unload_s=0)
        await core.ensure_loaded()
        request = SynthesisRequest(args.text, None, settings.language, args.speed)
        t0 = time.perf_counter()
        parts = [chunk async for chunk in core.synthesize(request)]
        elapsed = time.perf_counter() - t0
        await core.aclose()
        return (np.concatenate(parts) if parts else np.zeros(0, np.int16)), elapsed

    try:
        pcm, elapsed = asyncio.run(render())
    except EngineError as exc:
        print(f"voxgate say: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(engine.sample_rate)
        wav.writeframes(pcm.astype("<i2").tobytes())
    seconds = len(pcm) / engine.sample_rate
    print(
        f"wrote {out} ({seconds:.2f} s at {engine.sample_rate} Hz, "
        f"synthesized in {elapsed:.2f} s, RTF {elapsed / max(seconds, 1e-9):.3f})"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .logs import setup_logging

    settings: Settings = from_args(args)
    setup_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    print(
        f"voxgate: engine {settings.engine}, http://{settings.host}:{settings.port}/ "
        f"(demo page), ws://{settings.host}:{settings.port}/v1/speak"
        + (
            f", AudioSocket {settings.audiosocket_host}:{settings.audiosocket_port}"
            if settings.audiosocket_port
            else ""
        ),
        flush=True,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        ws_max_size=settings.max_message_bytes * 4,
        timeout_graceful_shutdown=5,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voxgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway (HTTP, WebSocket, AudioSocket)")
    add_arguments(serve)
    say = sub.add_parser("say", help="synthesize text once into a WAV file")
    say.add_argument("text")
    say.add_argument("-o", "--output", default="voxgate.wav")
    say.add_argument("--speed", type=float, default=1.0)
    add_arguments(say)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "say":
            return _say(args)
        return _serve(args)
    except ConfigError as exc:
        print(f"voxgate: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
