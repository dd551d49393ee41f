"""`voxgate serve` runs the gateway; `voxgate say` speaks once into a WAV file."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np

from .config import ConfigError, Settings
from .config_sources import add_arguments, from_args

# `say` needs only what chooses and configures an engine, not the server's settings.
SAY_SETTINGS = (
    "engine",
    "voice",
    "language",
    "model",
    "device",
    "dtype",
    "attn_implementation",
    "qwen_runtime",
    "qwen_streaming",
    "qwen_cuda_graphs",
    "sim_rtf",
)


def _say(args: argparse.Namespace) -> int:
    from telephony.resample import StreamResampler
    from telephony.wav import wav_bytes
    from tts_core import EngineError, SpeechCore, SynthesisRequest, create_engine
    from tts_core.normalize import NormalizeSettingError, parse_setting

    try:
        parse_setting(args.normalize)
    except NormalizeSettingError as exc:
        print(f"voxgate say: {exc}", file=sys.stderr)
        return 2

    settings = from_args(args)
    engine = create_engine(settings.engine, **settings.engine_options())

    async def render() -> tuple[np.ndarray, float]:
        core = SpeechCore(engine, idle_unload_s=0)
        try:
            resolved = await core.resolve(settings.voice, settings.language, args.speed)
            request = SynthesisRequest(
                args.text,
                resolved.voice,
                resolved.language,
                args.speed,
                normalize=args.normalize,
                locale=args.locale or resolved.locale,
            )
            t0 = time.perf_counter()
            parts = [chunk async for chunk in core.synthesize(request)]
            elapsed = time.perf_counter() - t0
        finally:
            await core.aclose()
        return (np.concatenate(parts) if parts else np.zeros(0, np.int16)), elapsed

    try:
        pcm, elapsed = asyncio.run(render())
    except EngineError as exc:
        print(f"voxgate say: {exc}", file=sys.stderr)
        return 2
    rate = args.rate or engine.sample_rate
    encoding = args.encoding
    if rate != engine.sample_rate:
        resampler = StreamResampler(engine.sample_rate, rate)
        pcm = np.concatenate([resampler.process(pcm), resampler.flush()])
    try:
        data = wav_bytes(pcm.astype("<i2").tobytes(), rate, encoding)
    except ValueError as exc:
        print(f"voxgate say: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.write_bytes(data)
    seconds = len(pcm) / rate
    print(
        f"wrote {out} ({seconds:.2f} s, {encoding} at {rate} Hz, "
        f"synthesized in {elapsed:.2f} s, RTF {elapsed / max(seconds, 1e-9):.3f})"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import Listeners, create_app
    from .drain import drain
    from .logs import setup_logging
    from .serving import DrainingServer, bind, uvicorn_options

    settings: Settings = from_args(args)
    setup_logging(settings.log_level, settings.log_format)
    for warning in settings.warnings():  # also logged; printed so a terminal user sees it
        print(f"voxgate: WARNING: {warning}", file=sys.stderr, flush=True)
    # Bind every port first: a port in use is one clear line, not a trace from inside startup.
    ports = [("HTTP", settings.host, settings.port)]
    if settings.audiosocket_port:
        ports.append(("AudioSocket", settings.audiosocket_host, settings.audiosocket_port))
    if settings.ops_port:
        ports.append(("operations", settings.ops_host, settings.ops_port))
    sockets = {}
    for name, host, port in ports:
        try:
            sockets[name] = bind(host, port)
        except OSError as exc:
            for sock in sockets.values():
                sock.close()
            print(
                f"voxgate: cannot listen on {host}:{port} ({name}): {exc.strerror}", file=sys.stderr
            )
            return 2
    app = create_app(
        settings,
        listeners=Listeners(audiosocket=sockets.get("AudioSocket"), ops=sockets.get("operations")),
    )
    print(
        f"voxgate: engine {settings.engine}, http://{settings.host}:{settings.port}/ "
        f"(demo page), ws://{settings.host}:{settings.port}/v1/speak"
        + (
            f", AudioSocket {settings.audiosocket_host}:{settings.audiosocket_port}"
            if settings.audiosocket_port
            else ""
        )
        + (f", operations {settings.ops_host}:{settings.ops_port}" if settings.ops_port else ""),
        flush=True,
    )
    config = uvicorn.Config(
        app, log_config=None, timeout_graceful_shutdown=5, **uvicorn_options(settings)
    )
    gw = app.state.gateway
    DrainingServer(config, drain=lambda: drain(gw)).run(sockets=[sockets["HTTP"]])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voxgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway (HTTP, WebSocket, AudioSocket)")
    add_arguments(serve)
    say = sub.add_parser(
        "say",
        help="synthesize text once into a WAV file",
        description="Synthesize text once into a WAV file: wideband, or telephone audio "
        "(--rate 8000 --encoding mulaw) as Asterisk Playback() and Twilio <Play> take it.",
    )
    say.add_argument("text")
    say.add_argument("-o", "--output", default="voxgate.wav")
    say.add_argument("--speed", type=float, default=1.0)
    say.add_argument(
        "--rate", type=int, default=None, help="sample rate (default: the engine's own)"
    )
    say.add_argument(
        "--encoding",
        choices=("pcm16", "mulaw", "alaw"),
        default="pcm16",
        help="pcm16 (default), or G.711 mulaw/alaw (8000 Hz)",
    )
    say.add_argument(
        "--normalize",
        default="on",
        help="speak numbers, dates, codes ... as words: on (default), off, "
        "or comma-separated categories (e.g. numbers,currency,dates)",
    )
    say.add_argument(
        "--locale", default=None, help="locale for numeric dates, e.g. en-GB (12/03 = 12 March)"
    )
    add_arguments(say, only=SAY_SETTINGS)
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
