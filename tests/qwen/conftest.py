"""Fixtures for the qwen engine tests: a tiny Qwen3-TTS checkpoint built once per session.

Why: no weights can be downloaded in CI, yet the engine must be tested through the
real `qwen-tts` loading and generation code; tiny_checkpoint.py builds a real
checkpoint folder of the released shape, and the engine loads it like any other.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.*` and `tts_core` without an install
    sys.path.insert(0, str(ROOT))

from tests.qwen.tiny_checkpoint import build_tiny_checkpoint  # noqa: E402 (installs the stubs)
from tts_core.qwen import QwenEngine  # noqa: E402


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the session's tiny checkpoint (built once, a few seconds)."""
    return build_tiny_checkpoint(tmp_path_factory.mktemp("qwen") / "tiny-customvoice")


@pytest.fixture(scope="module")
def qwen_engine(tiny_qwen_dir: Path) -> Iterator[QwenEngine]:
    """A loaded engine on CPU, seeded so each sentence is reproducible."""
    engine = QwenEngine(model=str(tiny_qwen_dir), device="cpu", seed=1234)
    engine.load()
    yield engine
    engine.unload()


@pytest.fixture(scope="session")
def tiny_qwen_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the session's tiny Base (voice clone) checkpoint."""
    return build_tiny_checkpoint(tmp_path_factory.mktemp("qwen") / "tiny-base", kind="base")
