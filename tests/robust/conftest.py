"""Robustness suite fixtures: one sim-engine gateway per module, and the figures summary.

The figures (inputs tried, sessions, faults injected, frames checked and lost,
memory growth) are printed at the end of the run and, when
`VOXGATE_ROBUST_FIGURES` names a file, written there as JSON for the issue note.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from robust_support import MEMORY, TALLY, WORST, serve

from gateway.config import Settings
from tts_core.sim_engine import SimulatedEngine


@pytest.fixture(scope="module")
def sim_server() -> Iterator[Any]:
    """A gateway on loopback with a fast deterministic engine and AudioSocket enabled."""
    engine = SimulatedEngine(rtf=0.0, fail_marker="BOOM")
    with serve(Settings(engine="sim", audiosocket_port=1), engine) as running:
        yield running


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY and not MEMORY and not WORST:
        return
    figures = (
        dict(sorted(TALLY.items()))
        | {f"memory_growth_mb.{k}": round(v, 2) for k, v in sorted(MEMORY.items())}
        | {f"worst.{k}": round(v, 2) for k, v in sorted(WORST.items())}
    )
    terminalreporter.section("voxgate robustness figures")
    for key, value in figures.items():
        terminalreporter.write_line(f"{key:40s} {value}")
    if path := os.environ.get("VOXGATE_ROBUST_FIGURES"):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)
