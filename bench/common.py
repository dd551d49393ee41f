"""What every scenario shares: run options, where results go, and how they are written."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import machine

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Options:
    quick: bool = False
    out: Path = RESULTS
    engines: tuple[str, ...] = ("piper", "sim")
    model: str | None = None  # qwen: model id or local folder
    voice: str | None = None
    sim_rtf: float = 0.25  # fairness: the simulated engine's real-time factor
    tokens_per_s: float = 30.0
    max_sessions: int = 400  # overhead ramp ceiling
    peer_venv: Path = Path("/tmp/voxgate-bench-peer-venv")
    seed: int = 7
    device: str | None = None  # qwen: cpu or cuda (auto)
    qwen_shape: str | None = None  # qwen: tiny or 0.6b (auto: 0.6b on CUDA)

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    def engine_settings(self, engine: str) -> dict[str, object]:
        """`VOXGATE_*` settings for a gateway on `engine`."""
        settings: dict[str, object] = {"engine": engine}
        if engine == "qwen" and self.model:
            settings["model"] = self.model
        if engine in ("piper", "qwen") and self.voice:
            settings["voice"] = self.voice
        return settings


def jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


def write_result(opts: Options, scenario: str, data: dict[str, Any], started: float) -> Path:
    """`<out>/<scenario>.json`: the figures, the machine, the options and the wall time."""
    opts.out.mkdir(parents=True, exist_ok=True)
    body = {
        "scenario": scenario,
        "quick": opts.quick,
        "machine": machine.facts(),
        "options": jsonable(asdict(opts)),
        "wall_s": round(time.monotonic() - started, 1),
        **jsonable(data),
    }
    path = opts.out / f"{scenario}.json"
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path


def load_result(out: Path, scenario: str) -> dict[str, Any] | None:
    path = out / f"{scenario}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
