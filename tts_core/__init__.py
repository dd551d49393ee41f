"""voxgate's speech core: engines and the process-wide scheduler in front of them.

Nothing here knows about WebSockets or telephony: callers hand in sentences and
get 16-bit PCM at the engine's rate back.
"""

from .cache import AudioCache, CacheKey
from .core import SpeechCore, Timing
from .engine import (
    Engine,
    EngineError,
    EngineUnavailable,
    InvalidRequest,
    Resolved,
    SynthesisRequest,
    Voice,
    language_tag,
    primary_language,
)
from .factory import ENGINES, create_engine

__all__ = [
    "ENGINES",
    "AudioCache",
    "CacheKey",
    "Engine",
    "EngineError",
    "EngineUnavailable",
    "InvalidRequest",
    "Resolved",
    "SpeechCore",
    "SynthesisRequest",
    "Timing",
    "Voice",
    "create_engine",
    "language_tag",
    "primary_language",
]
