"""Engine selection by name, so configuration never imports engine modules itself.

Heavy engines import their frameworks inside `load()`; building one here is cheap.
"""

from __future__ import annotations

from typing import Any

from .engine import Engine, EngineUnavailable

ENGINES = ("piper", "qwen", "remote", "sim")


def create_engine(name: str, **options: Any) -> Engine:
    """Build an engine by name. Options that are None are left at the engine's default."""
    opts = {k: v for k, v in options.items() if v is not None}
    if name == "piper":
        from .piper_engine import PiperEngine

        return PiperEngine(opts.get("voice_path"), threads=opts.get("threads"))
    if name == "qwen":
        from .qwen import QwenEngine

        allowed = {
            "model",
            "device",
            "dtype",
            "attn_implementation",
            "default_speaker",
            "seed",
            "runtime",
            "slots",
            "max_len",
            "streaming",
            "first_chunk_frames",
            "chunk_frames",
            "context_frames",
            "max_prefills",
            "cuda_graphs",
            "max_frames",
        }
        return QwenEngine(**{k: v for k, v in opts.items() if k in allowed})
    if name == "remote":
        from .remote import RemoteEngine

        allowed = {
            "api_key", "model", "voices", "sample_rate", "concurrency", "connect_timeout_s",
            "first_byte_timeout_s", "read_timeout_s", "extra", "language_field",
        }  # fmt: skip
        if not opts.get("urls"):
            raise EngineUnavailable("the remote engine needs VOXGATE_REMOTE_URL")
        return RemoteEngine(opts["urls"], **{k: v for k, v in opts.items() if k in allowed})
    if name == "sim":
        from .sim_engine import SimulatedEngine

        allowed = {"rtf", "sample_rate", "chunk_ms", "fail_marker", "load_delay_s"}
        return SimulatedEngine(**{k: v for k, v in opts.items() if k in allowed})
    raise EngineUnavailable(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
