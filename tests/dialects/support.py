"""What the gateway must have sent: the engine's own PCM for each sentence, encoded the same way."""

from __future__ import annotations

import io

import av
import numpy as np

from telephony.media import MediaFormat, UtteranceEncoder
from tts_core import SynthesisRequest

PIPER_VOICE = "en_US-joe-medium"
KEY = "dialect-key-1"
OTHER_KEY = "dialect-key-2"


def engine_pcm(server, sentence: str, **request) -> np.ndarray:
    """The PCM the speech core synthesized (and cached) for `sentence`."""
    core = server.gateway.core
    fields = {"voice": PIPER_VOICE, "language": "en-us", "locale": "en-US"} | request
    pcm = core.cache.get(core.cache_key(SynthesisRequest(sentence, **fields)))
    assert pcm is not None, f"{sentence!r} was not synthesized"
    return pcm


def expected_bytes(server, sentences: list[str], fmt: MediaFormat, **request) -> bytes:
    """Each sentence's engine PCM through the pipeline's encoder (resampler, framer), joined."""
    out = b""
    for sentence in sentences:
        encoder = UtteranceEncoder(server.gateway.core.sample_rate, fmt)
        pcm = engine_pcm(server, sentence, **request)
        out += b"".join(encoder.feed(pcm) + encoder.finish())
    return out


def decode_any(data: bytes, rate: int | None = None) -> tuple[np.ndarray, int]:
    """Decode a whole file (any container PyAV reads) to int16 mono at `rate` (default: its own)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        rate = rate or stream.rate
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        parts = [
            frame.to_ndarray().reshape(-1)
            for decoded in container.decode(stream)
            for frame in resampler.resample(decoded)
        ]
        parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(parts).astype(np.int16), rate


def correlation(a: np.ndarray, b: np.ndarray, max_lag: int = 4000) -> float:
    """Peak normalised cross-correlation of two signals (lossy codecs shift and smear)."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    n = min(len(a), len(b))
    best = 0.0
    for lag in range(0, max_lag, 8):
        x, y = a[lag:n], b[: n - lag]
        if len(x) < 1000:
            break
        for u, v in ((x, y), (b[lag:n], a[: n - lag])):
            denom = np.linalg.norm(u) * np.linalg.norm(v)
            if denom:
                best = max(best, float(np.dot(u, v) / denom))
    return best
