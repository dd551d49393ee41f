"""Shared fixtures: the bundled Piper engine is loaded once per test session."""

from __future__ import annotations

import pytest

from tts_core.piper_engine import PiperEngine


@pytest.fixture(scope="session")
def piper_engine() -> PiperEngine:
    engine = PiperEngine()
    engine.load()
    return engine
