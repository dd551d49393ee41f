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
    # Every other option goes to the engine as it is: an option an engine does not take
    # fails at start-up, never silently (an allow-list here once dropped VOXGATE_VOICES_DIR).
    if name == "qwen":
        from .qwen import QwenEngine

        return QwenEngine(**opts)
    if name == "remote":
        from .remote import RemoteEngine

        if not opts.get("urls"):
            raise EngineUnavailable("the remote engine needs VOXGATE_REMOTE_URL")
        return RemoteEngine(**opts)
    if name == "sim":
        from .sim_engine import SimulatedEngine

        return SimulatedEngine(**opts)
    raise EngineUnavailable(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
