"""Process settings, their defaults and the rules they must meet.

Every setting has one name in three places (field, `VOXGATE_<FIELD>`, and
`--field-with-dashes`), so the README table, the environment and the command
line cannot drift apart; `gateway.config_sources` reads the last two.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting has a value the gateway cannot run with."""


CUDA_GRAPHS = {"auto": None, "on": True, "off": False}  # VOXGATE_QWEN_CUDA_GRAPHS → engine


@dataclass
class Settings:
    host: str = field(default="127.0.0.1", metadata={"help": "HTTP/WebSocket bind address"})
    port: int = field(default=8080, metadata={"help": "HTTP/WebSocket port"})
    engine: str = field(
        default="piper", metadata={"help": "piper (CPU, default), qwen (GPU), remote, sim"}
    )
    voice: str | None = field(
        default=None,
        metadata={"help": "piper: path to an .onnx voice; qwen: default speaker"},
    )
    language: str | None = field(default=None, metadata={"help": "default language"})
    model: str = field(
        default="Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice",
        metadata={"help": "qwen: model id or local folder"},
    )
    device: str | None = field(default=None, metadata={"help": "qwen: device (auto: cuda:0/cpu)"})
    dtype: str | None = field(default=None, metadata={"help": "qwen: bfloat16/float32 (auto)"})
    attn_implementation: str | None = field(
        default=None, metadata={"help": "qwen: flash_attention_2, sdpa or eager (auto)"}
    )
    qwen_runtime: str = field(
        default="batched",
        metadata={"help": "qwen: batched (one decode loop for many calls) or stock (generate)"},
    )
    qwen_slots: int = field(
        default=0, metadata={"help": "qwen: sentences decoded at once (0 = 64 on CUDA, 8 on CPU)"}
    )
    qwen_max_len: int = field(
        default=1024, metadata={"help": "qwen: tokens per slot (prompt + codec frames)"}
    )
    qwen_streaming: int = field(
        default=1,
        metadata={"help": "qwen: 1 = send audio while the sentence is still generating"},
    )
    qwen_first_chunk_frames: int = field(
        default=3, metadata={"help": "qwen: codec frames (80 ms each) in the first audio chunk"}
    )
    qwen_chunk_frames: int = field(
        default=8, metadata={"help": "qwen: codec frames in each later chunk"}
    )
    qwen_context_frames: int = field(
        default=72, metadata={"help": "qwen: frames of left context decoded with each chunk"}
    )
    qwen_max_frames: int = field(
        default=0, metadata={"help": "qwen: cap on codec frames per sentence (0 = text budget)"}
    )
    qwen_cuda_graphs: str = field(
        default="auto", metadata={"help": "qwen: decode step as CUDA graphs (auto, on, off)"}
    )
    remote_url: str = field(
        default="", metadata={"help": "remote: speech server base URLs, comma-separated (…/v1)"}
    )
    remote_api_key: str = field(default="", metadata={"help": "remote: bearer key for upstreams"})
    remote_model: str = field(default="tts-1", metadata={"help": "remote: model name to request"})
    remote_voices: str = field(
        default="", metadata={"help": "remote: upstream voice names, first = default (alloy)"}
    )
    remote_sample_rate: int = field(
        default=24000, metadata={"help": "remote: rate of the upstreams' pcm (24000 = OpenAI)"}
    )
    remote_concurrency: int = field(
        default=8, metadata={"help": "remote: concurrent sentences per upstream"}
    )
    remote_connect_timeout_s: float = field(
        default=2.0, metadata={"help": "remote: connect timeout per upstream"}
    )
    remote_first_byte_timeout_s: float = field(
        default=5.0, metadata={"help": "remote: seconds to the first audio byte before failover"}
    )
    remote_extra: str = field(
        default='{"stream": true}', metadata={"help": "remote: JSON fields added to each request"}
    )
    voices_dir: str = field(
        default="", metadata={"help": "qwen Base: folder that keeps cloned voices (empty = memory)"}
    )
    sim_rtf: float = field(default=0.0, metadata={"help": "sim engine: real-time factor"})
    audiosocket_host: str = field(
        default="127.0.0.1", metadata={"help": "AudioSocket TCP bind address"}
    )
    audiosocket_port: int = field(default=9092, metadata={"help": "AudioSocket port (0 = off)"})
    api_keys: str = field(
        default="",
        metadata={"help": "comma-separated API keys for /v1/*, each a tenant (empty = open)"},
    )
    allowed_origins: str = field(
        default="",
        metadata={"help": "browser origins allowed besides the gateway's own (comma list, *)"},
    )
    forwarded_allow_ips: str = field(
        default="127.0.0.1",
        metadata={"help": "proxy addresses whose X-Forwarded-For/-Proto headers are trusted"},
    )
    ops_host: str = field(
        default="127.0.0.1", metadata={"help": "bind address of the operations port"}
    )
    ops_port: int = field(
        default=0,
        metadata={"help": "serve /metrics and /readyz on this port only (0 = on the main port)"},
    )
    twilio_auth_token: str = field(
        default="", metadata={"help": "validate X-Twilio-Signature on /twilio when set"}
    )
    public_url: str = field(
        default="",
        metadata={"help": "external base URL Twilio signs (e.g. wss://voice.example.com)"},
    )
    carrier_token: str = field(
        default="",
        metadata={"help": "shared secret carrier legs must present (empty = carrier legs open)"},
    )
    call_webhook: str = field(
        default="", metadata={"help": "POST call_started/call_ended events to this URL"}
    )
    call_webhook_secret: str = field(
        default="", metadata={"help": "HMAC-SHA256 key signing each call webhook body"}
    )
    redis_url: str = field(
        default="",
        metadata={"help": "share calls between replicas through this Redis (redis://host:6379/0)"},
    )
    cluster_secret: str = field(
        default="",
        metadata={"help": "with Redis: key that signs replica-to-replica bridges (16+ chars)"},
    )
    cluster_address: str = field(
        default="",
        metadata={
            "help": "with Redis: this replica's URL for other replicas (http://10.0.0.5:8080)"
        },
    )
    cluster_ttl_s: float = field(
        default=15.0,
        metadata={"help": "with Redis: a replica's calls vanish this long after its last beat"},
    )
    cluster_prefix: str = field(
        default="voxgate", metadata={"help": "with Redis: key and channel namespace"}
    )
    drain_s: float = field(
        default=30.0,
        metadata={"help": "SIGTERM: let live calls finish this long, then end them (0 = at once)"},
    )
    idle_unload_s: float = field(
        default=120.0, metadata={"help": "unload the model after this idle time (0 = never)"}
    )
    cache_entries: int = field(default=256, metadata={"help": "audio cache entries (0 = off)"})
    cache_mb: int = field(default=64, metadata={"help": "audio cache size bound in MiB"})
    scheduler: str = field(default="edf", metadata={"help": "edf (deadline) or fifo"})
    max_sessions: int = field(default=200, metadata={"help": "concurrent sessions per process"})
    tenant_max_sessions: int = field(
        default=50, metadata={"help": "concurrent sessions per API key (with API keys)"}
    )
    tenant_max_queued_sentences: int = field(
        default=256, metadata={"help": "sentences waiting per API key (with API keys)"}
    )
    max_message_bytes: int = field(default=65536, metadata={"help": "largest client message"})
    max_session_chars: int = field(default=200_000, metadata={"help": "text accepted per session"})
    max_queued_sentences: int = field(
        default=32, metadata={"help": "sentences waiting per session before back-pressure"}
    )
    max_pending_marks: int = field(
        default=256, metadata={"help": "marks and flushes waiting per session"}
    )
    max_sentence_chars: int = field(
        default=250,
        metadata={"help": "longer sentences are cut at a clause boundary before synthesis"},
    )
    render_piece_ms: int = field(
        default=2000,
        metadata={
            "help": "while others wait for the engine, render long sentences in pieces "
            "of about this much speech (0 = always whole)"
        },
    )
    max_greeting_chars: int = field(
        default=1000, metadata={"help": "longest call greeting (longer ones are cut)"}
    )
    session_idle_s: float = field(default=300.0, metadata={"help": "close idle sessions"})
    header_timeout_s: float = field(
        default=5.0, metadata={"help": "close HTTP connections whose request head is this slow"}
    )
    keep_alive_s: float = field(default=5.0, metadata={"help": "HTTP keep-alive idle timeout"})
    max_header_bytes: int = field(
        default=16384, metadata={"help": "largest HTTP request line plus headers"}
    )
    max_connections: int = field(
        default=2000, metadata={"help": "open HTTP/WebSocket connections (over: 503)"}
    )
    carrier_start_timeout_s: float = field(
        default=5.0, metadata={"help": "close a carrier socket that has not started a call"}
    )
    audiosocket_idle_s: float = field(
        default=5.0, metadata={"help": "hang up an AudioSocket call that sends no audio this long"}
    )
    max_audiosocket_calls: int = field(
        default=500, metadata={"help": "concurrent AudioSocket connections"}
    )
    sentence_wait_s: float = field(
        default=1.0, metadata={"help": "release an unterminated sentence after this wait"}
    )
    lead_ms: int = field(default=200, metadata={"help": "default send lead ahead of real time"})
    log_level: str = field(default="info", metadata={"help": "debug, info, warning, error"})
    log_format: str = field(default="json", metadata={"help": "json or text"})

    @property
    def api_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())

    @property
    def advertised_address(self) -> str:
        """Where other replicas reach this one (the bridge route): configured, or host:port."""
        if self.cluster_address:
            return self.cluster_address.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def allowed_origin_set(self) -> frozenset[str]:
        return frozenset(o.strip() for o in self.allowed_origins.split(",") if o.strip())

    def engine_options(self) -> dict[str, Any]:
        if self.engine == "piper":
            return {"voice_path": self.voice}
        if self.engine == "qwen":
            return {
                "model": self.model,
                "device": self.device,
                "dtype": self.dtype,
                "attn_implementation": self.attn_implementation,
                "default_speaker": self.voice,
                "runtime": self.qwen_runtime,
                "slots": self.qwen_slots or None,
                "max_len": self.qwen_max_len,
                "streaming": bool(self.qwen_streaming),
                "first_chunk_frames": self.qwen_first_chunk_frames,
                "chunk_frames": self.qwen_chunk_frames,
                "context_frames": self.qwen_context_frames,
                "cuda_graphs": CUDA_GRAPHS[self.qwen_cuda_graphs],
                "max_frames": self.qwen_max_frames or None,
                "voices_dir": self.voices_dir or None,
            }
        if self.engine == "remote":
            return {
                "urls": self.remote_url,
                "api_key": self.remote_api_key or None,
                "model": self.remote_model,
                "voices": self.remote_voices or None,
                "sample_rate": self.remote_sample_rate,
                "concurrency": self.remote_concurrency,
                "connect_timeout_s": self.remote_connect_timeout_s,
                "first_byte_timeout_s": self.remote_first_byte_timeout_s,
                "extra": self.remote_extra,
            }
        return {"rtf": self.sim_rtf}

    def warnings(self) -> list[str]:
        """Settings that run but are unsafe, for the operator to read at start-up."""
        found = []
        if self.twilio_auth_token and not self.public_url:
            found.append(
                "VOXGATE_TWILIO_AUTH_TOKEN is set without VOXGATE_PUBLIC_URL: Twilio signatures "
                "are checked against the Host header each client sends, not the URL Twilio "
                "signed; set VOXGATE_PUBLIC_URL to that URL (e.g. wss://voice.example.com)"
            )
        if not self.carrier_token and self.host not in ("127.0.0.1", "localhost", "::1"):
            found.append(
                "VOXGATE_CARRIER_TOKEN is not set: anyone who can reach this port can open a "
                "carrier leg (/telnyx, /plivo, ...) and be spoken to; set it and pass it as "
                "each carrier's docs/carriers page shows"
            )
        return found

    def validate(self) -> Settings:
        if self.engine not in ("piper", "qwen", "remote", "sim"):
            raise ConfigError(f"engine must be piper, qwen, remote or sim, not {self.engine!r}")
        if self.engine == "remote":
            _check_remote(self)
        if self.qwen_runtime not in ("batched", "stock"):
            raise ConfigError("qwen_runtime must be batched or stock")
        if self.qwen_cuda_graphs not in CUDA_GRAPHS:
            raise ConfigError("qwen_cuda_graphs must be auto, on or off")
        for name in ("qwen_first_chunk_frames", "qwen_chunk_frames", "qwen_max_len"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if min(self.qwen_slots, self.qwen_context_frames, self.qwen_max_frames) < 0:
            raise ConfigError("qwen_slots, qwen_context_frames and qwen_max_frames must be >= 0")
        if self.scheduler not in ("edf", "fifo"):
            raise ConfigError("scheduler must be edf or fifo")
        for name in ("port", "audiosocket_port", "ops_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ConfigError(f"{name} must be a TCP port")
        for name in (
            "max_sessions",
            "max_message_bytes",
            "max_session_chars",
            "max_queued_sentences",
            "tenant_max_sessions",
            "tenant_max_queued_sentences",
            "max_pending_marks",
            "max_greeting_chars",
            "max_connections",
            "max_audiosocket_calls",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if self.max_queued_sentences < 2:
            raise ConfigError("max_queued_sentences must be >= 2")
        if not 40 <= self.max_sentence_chars <= 2000:
            raise ConfigError("max_sentence_chars must be between 40 and 2000")
        if self.render_piece_ms < 0:
            raise ConfigError("render_piece_ms must be >= 0")
        if self.max_header_bytes < 1024:
            raise ConfigError("max_header_bytes must be >= 1024")
        for name in ("header_timeout_s", "keep_alive_s", "carrier_start_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0")
        if self.call_webhook:
            if not self.call_webhook.startswith(("http://", "https://")):
                raise ConfigError("VOXGATE_CALL_WEBHOOK must be an http:// or https:// URL")
            if not self.call_webhook_secret:
                raise ConfigError(
                    "VOXGATE_CALL_WEBHOOK needs VOXGATE_CALL_WEBHOOK_SECRET to sign its bodies"
                )
        if self.redis_url:
            _check_cluster(self)
        if self.drain_s < 0:
            raise ConfigError("drain_s must be >= 0")
        if self.engine == "piper" and self.voice and not Path(self.voice).is_file():
            raise ConfigError(f"voice file not found: {self.voice}")
        return self


def _check_remote(settings: Settings) -> None:
    urls = [u.strip() for u in settings.remote_url.split(",") if u.strip()]
    if not urls:
        raise ConfigError("the remote engine needs VOXGATE_REMOTE_URL (one or more base URLs)")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigError("VOXGATE_REMOTE_URL entries must start with http:// or https://")
    if settings.remote_concurrency < 1 or settings.remote_sample_rate < 8000:
        raise ConfigError("remote_concurrency must be >= 1 and remote_sample_rate >= 8000")
    try:
        extra = json.loads(settings.remote_extra or "{}")
    except ValueError as exc:
        raise ConfigError(f"VOXGATE_REMOTE_EXTRA is not JSON: {exc}") from exc
    if not isinstance(extra, dict):
        raise ConfigError("VOXGATE_REMOTE_EXTRA must be a JSON object")


WILDCARD_HOSTS = ("0.0.0.0", "::", "")
MIN_CLUSTER_SECRET = 16


def _check_cluster(settings: Settings) -> None:
    """Replicas sharing calls need Redis, a shared secret and an address the others can reach."""
    if not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("VOXGATE_REDIS_URL must be a redis://, rediss:// or unix:// URL")
    if len(settings.cluster_secret) < MIN_CLUSTER_SECRET:
        raise ConfigError(
            f"VOXGATE_REDIS_URL needs VOXGATE_CLUSTER_SECRET ({MIN_CLUSTER_SECRET}+ characters, "
            "the same on every replica) to sign the bridges between replicas"
        )
    if settings.cluster_secret in settings.api_key_set:
        raise ConfigError("VOXGATE_CLUSTER_SECRET must not be one of the public API keys")
    if not settings.cluster_address and (settings.host in WILDCARD_HOSTS or not settings.port):
        raise ConfigError(
            "with VOXGATE_REDIS_URL and a wildcard host or port 0, set VOXGATE_CLUSTER_ADDRESS "
            "to the URL other replicas reach this one at (http://10.0.0.5:8080)"
        )
    if settings.cluster_address and not settings.cluster_address.startswith(
        ("http://", "https://")
    ):
        raise ConfigError("VOXGATE_CLUSTER_ADDRESS must be an http:// or https:// URL")
    if settings.cluster_ttl_s < 1:
        raise ConfigError("cluster_ttl_s must be >= 1")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", settings.cluster_prefix):
        raise ConfigError("cluster_prefix must be 1-64 letters, digits, '_', '.' or '-'")
