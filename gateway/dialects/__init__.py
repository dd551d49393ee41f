"""Drop-in speech API dialects: one adapter module per vendor, over the `/v1/speak` machinery.

- stream.py      what every adapter drives (segmenter + pipeline), admission
- keys.py        API keys the way each vendor's clients send them
- alignment.py   character timings from a sentence's audio duration
- openai.py      `POST /v1/audio/speech`, `GET /v1/models` (also under /openai)
- elevenlabs.py  `stream-input` and `multi-stream-input` WebSockets under /elevenlabs
- deepgram.py    the Aura speak WebSocket under /deepgram

Adding a dialect is adding a module with a `routes()` and a line in `DIALECTS`.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from . import deepgram, elevenlabs, openai

DIALECTS = (openai, elevenlabs, deepgram)


def routes() -> list[BaseRoute]:
    """Every dialect's routes, for the application's route table."""
    return [route for dialect in DIALECTS for route in dialect.routes()]
