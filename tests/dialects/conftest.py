"""A real gateway (uvicorn in a thread, the bundled Piper voice, the audio cache on) with keys."""

from __future__ import annotations

import pytest

from gateway.config import Settings
from tests.e2e.server import serve

from .support import KEY, OTHER_KEY


@pytest.fixture(scope="module")
def server(piper_engine):
    settings = Settings(audiosocket_port=0, api_keys=f"{KEY},{OTHER_KEY}")
    with serve(settings, piper_engine, cache_entries=256) as running:
        yield running
