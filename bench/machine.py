"""Facts about the machine and software a result was measured on.

A latency figure means nothing without the host it came from, so every JSON
result carries these, and the README table quotes them.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from importlib import metadata
from typing import Any

PACKAGES = (
    "voxgate",
    "piper-tts",
    "onnxruntime",
    "numpy",
    "soxr",
    "starlette",
    "uvicorn",
    "websockets",
    "torch",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def gpu() -> str | None:
    """The CUDA device name when torch sees one (checked without importing torch eagerly)."""
    if "torch" not in sys.modules:
        try:
            metadata.version("torch")
        except metadata.PackageNotFoundError:
            return None
    try:
        import torch

        if torch.cuda.is_available():
            return str(torch.cuda.get_device_name(0))
    except Exception:
        return None
    return None


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load: other work on the host shows up in every latency."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def facts(*, probe_gpu: bool = False) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gib": memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions(),
        "gpu": gpu() if probe_gpu else None,
        "load_average": load_average(),
    }


def describe(m: dict[str, Any]) -> str:
    """One line for tables: '2 cores AMD EPYC, 23 GiB, Python 3.11.7, Linux-…'."""
    return (
        f"{m.get('cores')} cores {m.get('cpu')}, {m.get('memory_gib')} GiB, "
        f"Python {m.get('python')}, {m.get('platform')}"
        + (f", GPU {m['gpu']}" if m.get("gpu") else "")
    )
