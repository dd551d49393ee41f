"""Settings: environment variables, CLI flags over them, and validation."""

from __future__ import annotations

import pytest

from gateway.cli import build_parser
from gateway.config import ConfigError, Settings, from_args, from_env


def test_env_values_are_typed() -> None:
    s = from_env(
        {
            "VOXGATE_PORT": "9000",
            "VOXGATE_IDLE_UNLOAD_S": "0",
            "VOXGATE_VOICE": "ryan",
            "VOXGATE_API_KEYS": "a, b,,c",
        }
    )
    assert s.port == 9000 and s.idle_unload_s == 0.0 and s.voice == "ryan"
    assert s.api_key_set == {"a", "b", "c"}
    assert from_env({}).voice is None and from_env({}).port == 8080


def test_flags_override_env() -> None:
    args = build_parser().parse_args(["serve", "--port", "7000", "--engine", "sim"])
    s = from_args(args, {"VOXGATE_PORT": "9000", "VOXGATE_HOST": "0.0.0.0"})
    assert s.port == 7000 and s.engine == "sim" and s.host == "0.0.0.0"


@pytest.mark.parametrize(
    "env",
    [{"VOXGATE_ENGINE": "espeak"}, {"VOXGATE_PORT": "70000"}, {"VOXGATE_SCHEDULER": "random"}],
)
def test_bad_values_are_rejected(env) -> None:
    with pytest.raises(ConfigError):
        from_env(env).validate()


def test_non_numbers_are_rejected_with_the_variable_name() -> None:
    with pytest.raises(ConfigError, match="VOXGATE_PORT"):
        from_env({"VOXGATE_PORT": "eighty"})


def test_every_setting_has_a_flag() -> None:
    parser = build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    flags = {a.dest for a in serve._actions}
    assert set(Settings.__dataclass_fields__) <= flags


def test_qwen_options_reach_the_engine() -> None:
    from tts_core import create_engine

    s = from_env(
        {
            "VOXGATE_ENGINE": "qwen",
            "VOXGATE_VOICE": "ryan",
            "VOXGATE_QWEN_STREAMING": "1",
            "VOXGATE_MODEL": "/models/tiny",
        }
    )
    engine = create_engine(s.engine, **s.engine_options())
    assert engine.name == "qwen" and not engine.loaded  # building it loads nothing
    assert engine.default_voice() == "ryan"
    assert engine.streaming is True and engine.model_id == "/models/tiny"


def test_a_twilio_token_without_a_public_url_is_warned_about_at_start(caplog) -> None:
    import logging

    from gateway.app import create_app

    caplog.set_level(logging.WARNING, logger="gateway.app")
    create_app(Settings(engine="sim", twilio_auth_token="s3cret"))
    create_app(Settings(engine="sim", twilio_auth_token="s3cret", public_url="wss://v.example"))
    create_app(Settings(engine="sim"))
    warned = [r.getMessage() for r in caplog.records if "unsafe configuration" in r.getMessage()]
    assert len(warned) == 1  # only the first: the token without the URL it signs
    assert "VOXGATE_PUBLIC_URL" in warned[0] and "Host header" in warned[0]
