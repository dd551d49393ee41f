"""Process settings: `VOXGATE_*` environment variables, overridden by CLI flags.

Every setting has one name in three places (field, `VOXGATE_<FIELD>`, and
`--field-with-dashes`), so the README table, the environment and the command
line cannot drift apart.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


class ConfigError(ValueError):
    """A setting has a value the gateway cannot run with."""


@dataclass
class Settings:
    host: str = field(default="127.0.0.1", metadata={"help": "HTTP/WebSocket bind address"})
    port: int = field(default=8080, metadata={"help": "HTTP/WebSocket port"})
    engine: str = field(default="piper", metadata={"help": "piper (CPU, default), qwen (GPU), sim"})
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
    qwen_streaming: int = field(
        default=0,
        metadata={"help": "qwen: 1 = send audio while the sentence is still generating"},
    )
    sim_rtf: float = field(default=0.0, metadata={"help": "sim engine: real-time factor"})
    audiosocket_host: str = field(
        default="127.0.0.1", metadata={"help": "AudioSocket TCP bind address"}
    )
    audiosocket_port: int = field(default=9092, metadata={"help": "AudioSocket port (0 = off)"})
    api_keys: str = field(
        default="", metadata={"help": "comma-separated API keys for /v1/* (empty = open)"}
    )
    twilio_auth_token: str = field(
        default="", metadata={"help": "validate X-Twilio-Signature on /twilio when set"}
    )
    public_url: str = field(
        default="",
        metadata={"help": "external base URL Twilio signs (e.g. wss://voice.example.com)"},
    )
    idle_unload_s: float = field(
        default=120.0, metadata={"help": "unload the model after this idle time (0 = never)"}
    )
    cache_entries: int = field(default=256, metadata={"help": "audio cache entries (0 = off)"})
    cache_mb: int = field(default=64, metadata={"help": "audio cache size bound in MiB"})
    scheduler: str = field(default="edf", metadata={"help": "edf (deadline) or fifo"})
    max_sessions: int = field(default=200, metadata={"help": "concurrent sessions per process"})
    max_message_bytes: int = field(default=65536, metadata={"help": "largest client message"})
    max_session_chars: int = field(default=200_000, metadata={"help": "text accepted per session"})
    max_queued_sentences: int = field(
        default=32, metadata={"help": "sentences waiting per session before back-pressure"}
    )
    session_idle_s: float = field(default=300.0, metadata={"help": "close idle sessions"})
    sentence_wait_s: float = field(
        default=1.0, metadata={"help": "release an unterminated sentence after this wait"}
    )
    lead_ms: int = field(default=200, metadata={"help": "default send lead ahead of real time"})
    log_level: str = field(default="info", metadata={"help": "debug, info, warning, error"})
    log_format: str = field(default="json", metadata={"help": "json or text"})

    @property
    def api_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())

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
                "streaming": bool(self.qwen_streaming),
            }
        return {"rtf": self.sim_rtf}

    def validate(self) -> Settings:
        if self.engine not in ("piper", "qwen", "sim"):
            raise ConfigError(f"engine must be piper, qwen or sim, not {self.engine!r}")
        if self.scheduler not in ("edf", "fifo"):
            raise ConfigError("scheduler must be edf or fifo")
        for name in ("port", "audiosocket_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ConfigError(f"{name} must be a TCP port")
        for name in ("max_sessions", "max_message_bytes", "max_session_chars"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        return self


def _parser(kind: Any) -> type:
    """int, float or str, from a field's (string) annotation."""
    return {"int": int, "float": float}.get(str(kind), str)


def _convert(name: str, raw: str, kind: Any) -> Any:
    text = raw.strip()
    parse = _parser(kind)
    if parse is str:
        return text or None if "None" in str(kind) else text
    try:
        return parse(text)
    except ValueError as exc:
        raise ConfigError(f"VOXGATE_{name.upper()}={raw!r} is not a number") from exc


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(f"VOXGATE_{f.name.upper()}")
        if raw is not None:
            values[f.name] = _convert(f.name, raw, f.type)
    return Settings(**values)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One `--flag` per setting; unset flags keep the environment's value."""
    for f in fields(Settings):
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=_parser(f.type),
            default=None,
            help=f"{f.metadata.get('help', '')} [VOXGATE_{f.name.upper()}, default {f.default}]",
        )


def from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
    settings = from_env(env)
    for f in fields(Settings):
        value = getattr(args, f.name, None)
        if value is not None:
            setattr(settings, f.name, value)
    return settings.validate()
