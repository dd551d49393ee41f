"""Prometheus metrics for one gateway instance.

Each app gets its own `CollectorRegistry` so several gateways (tests, embedded
use) can live in one process without name clashes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.sessions = Gauge("voxgate_active_sessions", "Open /v1/speak sessions", registry=r)
        self.calls = Gauge("voxgate_active_calls", "Live call legs", ["carrier"], registry=r)
        self.queue_depth = Gauge(
            "voxgate_engine_queue_depth", "Sentences waiting for the engine", registry=r
        )
        self.engine_busy = Gauge(
            "voxgate_engine_busy", "Engine slots rendering right now", registry=r
        )
        self.ttfa = Histogram(
            "voxgate_time_to_first_audio_seconds",
            "First text received to first audio frame sent, per session",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.sentence_ttfa = Histogram(
            "voxgate_sentence_first_audio_seconds",
            "Sentence complete to its first frame sent",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.synthesis = Histogram(
            "voxgate_synthesis_seconds",
            "Engine time per sentence",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rtf = Histogram(
            "voxgate_real_time_factor",
            "Synthesis time / audio duration per sentence",
            buckets=RTF_BUCKETS,
            registry=r,
        )
        self.audio = Counter("voxgate_audio_seconds", "Audio synthesized", registry=r)
        self.cache_hits = Counter(
            "voxgate_cache_hits", "Sentences served from the audio cache", registry=r
        )
        self.render_pieces = Counter(
            "voxgate_render_pieces",
            "Pieces of long sentences rendered apart because other requests waited",
            registry=r,
        )
        self.underruns = Counter(
            "voxgate_underruns",
            "A listener ran out of audio while its next sentence waited",
            registry=r,
        )
        self.errors = Counter(
            "voxgate_errors", "Errors reported to clients, by code", ["code"], registry=r
        )

    def observe_synthesis(self, synth_s: float, audio_s: float) -> None:
        self.synthesis.observe(synth_s)
        self.audio.inc(audio_s)
        if audio_s > 0:
            self.rtf.observe(synth_s / audio_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)
