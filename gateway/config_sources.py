"""Where settings come from: `VOXGATE_*` environment variables, then `voxgate` flags.

One name in three places (the `Settings` field, `VOXGATE_<FIELD>` and
`--field-with-dashes`), derived here from the dataclass itself, so the
environment and the command line cannot drift from `gateway.config`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from .config import ConfigError, Settings


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


def add_arguments(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """One `--flag` per setting (or per setting in `only`); unset flags keep the environment's."""
    for f in fields(Settings):
        if only is not None and f.name not in only:
            continue
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
