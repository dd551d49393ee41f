"""Prometheus metrics for one gateway instance.

Each app gets its own `CollectorRegistry` so several gateways (tests, embedded
use) can live in one process without name clashes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
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
        self.caller_audio_dropped = Counter(
            "voxgate_caller_audio_dropped_frames",
            "Caller audio frames dropped because the application did not read them",
            registry=r,
        )
        self.webhooks = Counter(
            "voxgate_call_webhooks",
            "Call webhook deliveries, by outcome (delivered, retried, failed, dropped)",
            ["outcome"],
            registry=r,
        )
        self.redis_up = Gauge(
            "voxgate_cluster_redis_up", "1 while the cluster's Redis answers", registry=r
        )
        self.remote_calls = Gauge(
            "voxgate_cluster_remote_calls", "Live calls held by the other replicas", registry=r
        )
        self.bridges = Counter(
            "voxgate_cluster_bridges",
            "Attaches bridged between replicas: out (to the owner), in (from another replica)",
            ["direction"],
            registry=r,
        )

    def watch_engine(self, stats: Callable[[], Any]) -> None:
        """Export a batched engine's own figures (slots, batch sizes, step time, per-call
        real-time factor), read from `stats()` at each scrape; None exports nothing."""
        self.registry.register(EngineCollector(stats))

    def observe_synthesis(self, synth_s: float, audio_s: float) -> None:
        self.synthesis.observe(synth_s)
        self.audio.inc(audio_s)
        if audio_s > 0:
            self.rtf.observe(synth_s / audio_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class EngineCollector:
    """Turns a batched engine's stats snapshot (tts_core.qwen.stats) into metric families.

    The engine keeps plain counters and fixed-bucket histograms on its own thread
    (tts_core knows nothing of Prometheus); they are read only when scraped.
    """

    def __init__(self, stats: Callable[[], Any]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        if s is None:
            return
        if isinstance(s, list):  # a remote engine: one entry per upstream
            yield from _upstreams(s)
            return
        yield GaugeMetricFamily("voxgate_engine_slots", "Sentences the engine can decode at once",
                                value=s.slots)  # fmt: skip
        yield GaugeMetricFamily("voxgate_engine_active_slots", "Slots decoding right now",
                                value=s.active)  # fmt: skip
        yield GaugeMetricFamily("voxgate_engine_waiting", "Admitted sentences not yet in a slot",
                                value=s.waiting)  # fmt: skip
        yield CounterMetricFamily("voxgate_engine_steps", "Batched decode steps", value=s.steps)
        yield CounterMetricFamily("voxgate_engine_frames", "Codec frames decoded", value=s.frames)
        yield _histogram("voxgate_engine_batch_size", "Sentences per decode step", s.batch_size)
        yield _histogram("voxgate_engine_step_seconds", "Time per decode step", s.step_seconds)
        yield _histogram(
            "voxgate_engine_request_rtf",
            "Per sentence: decode time / audio duration, while sharing the batch",
            s.request_rtf,
        )
        yield _histogram(
            "voxgate_engine_first_chunk_seconds",
            "Per sentence: submitted to its first audio chunk",
            s.first_audio,
        )

    def describe(self) -> list[Metric]:
        return []  # described on collect only: the engine may not be batched


def _histogram(name: str, doc: str, h: Any) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, buckets=h.cumulative(), sum_value=h.total)


def _upstreams(entries: list[dict[str, Any]]) -> Iterator[Metric]:
    """Per-upstream figures of a remote engine, labelled by URL (credentials removed)."""
    up = GaugeMetricFamily("voxgate_remote_up", "Upstream is taking requests", labels=["upstream"])
    busy = GaugeMetricFamily(
        "voxgate_remote_in_flight", "Sentences streaming from the upstream", labels=["upstream"]
    )
    requests = CounterMetricFamily(
        "voxgate_remote_requests", "Sentences sent to the upstream", labels=["upstream"]
    )
    errors = CounterMetricFamily(
        "voxgate_remote_errors", "Failed or refused sentences", labels=["upstream"]
    )
    first = HistogramMetricFamily(
        "voxgate_remote_first_byte_seconds", "Request sent to the first audio byte",
        labels=["upstream"],
    )  # fmt: skip
    for e in entries:
        label = [e["upstream"]]
        up.add_metric(label, 1.0 if e["up"] else 0.0)
        busy.add_metric(label, e["in_flight"])
        requests.add_metric(label, e["requests"])
        errors.add_metric(label, e["errors"])
        h = e["first_byte"]
        first.add_metric(label, buckets=h.cumulative(), sum_value=h.total)
    yield from (up, busy, requests, errors, first)
