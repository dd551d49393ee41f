"""A sentence rendered in pieces under contention, as the caller hears it: decoded from the
µ-law frames the gateway sent, compared with the same sentence rendered whole."""

from __future__ import annotations

import asyncio

import numpy as np

from gateway.config import Settings
from telephony.g711 import ulaw_decode
from telephony.media import MediaFormat, UtteranceEncoder
from tts_core import SynthesisRequest
from tts_core.seams import SILENCE

from .client import decode, speak
from .server import serve

# No clause mark: one sentence for the segmenter, and every seam a cut between words.
TEXT = (
    "Please have your account number ready and note that many questions are answered on our "
    "website where you can also track your order or change your delivery address today."
)
RATE = 8000


def pauses_ms(pcm: np.ndarray, longer_than_ms: float) -> list[float]:
    """Quiet stretches inside the speech (5 ms envelope below -40 dBFS), ends excluded."""
    w = RATE // 200
    env = np.convolve(np.abs(pcm.astype(float)), np.ones(w) / w, mode="same")
    loud = np.flatnonzero(env >= SILENCE)
    quiet = env[loud[0] : loud[-1] + 1] < SILENCE
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    runs = (edges[1::2] - edges[::2]) / RATE * 1000
    return [float(r) for r in runs if r > longer_than_ms]


def wire(pcm: np.ndarray, rate: int) -> np.ndarray:
    """What the caller would hear of `pcm`: the gateway's own resampling and µ-law."""
    encoder = UtteranceEncoder(rate, MediaFormat())
    frames = encoder.feed(pcm) + encoder.finish()
    return np.frombuffer(ulaw_decode(b"".join(frames)), dtype="<i2")


async def test_pieces_join_into_speech_with_no_pause_where_the_text_has_none(
    piper_engine,
) -> None:
    whole = wire(
        np.concatenate(list(piper_engine.synthesize(SynthesisRequest(TEXT)))),
        piper_engine.sample_rate,
    )
    with serve(Settings(audiosocket_port=0), piper_engine) as srv:
        core = srv.gateway.core
        # Three callers at once keep the engine contended: each sentence goes in pieces.
        got = await asyncio.gather(*(speak(srv.ws, [TEXT]) for _ in range(3)))
        assert core.quantum.pieces >= 6
    for received in got:
        heard = decode(received.frames, "mulaw")
        assert [e["type"] for e in received.events if e["type"] == "error"] == []
        # Nothing was lost: the pieces add up to the sentence, a little slower if anything
        # (each piece ends as an utterance does, with phrase-final lengthening: 0-14%
        # measured, against the whole sentence's own run-to-run spread of a few percent).
        assert 0.85 < len(heard) / len(whole) < 1.3, (len(heard), len(whole))
        # Played back to back, every cut would add a pause of 200-300 ms (Piper's own
        # silence after and before an utterance); joined, the long pauses are the ones
        # the whole sentence has too, give or take one.
        long_whole, long_heard = pauses_ms(whole, 150), pauses_ms(heard, 150)
        assert len(long_heard) <= len(long_whole) + 1, (long_heard, long_whole)
        assert max(pauses_ms(heard, 0) or [0]) < 400
