"""Settings: environment variables, CLI flags over them, and validation."""

from __future__ import annotations

import pytest

from gateway.cli import build_parser
from gateway.config import ConfigError, Settings
from gateway.config_sources import from_args, from_env


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
            "VOXGATE_QWEN_STREAMING": "0",
            "VOXGATE_QWEN_SLOTS": "12",
            "VOXGATE_QWEN_FIRST_CHUNK_FRAMES": "2",
            "VOXGATE_QWEN_CONTEXT_FRAMES": "50",
            "VOXGATE_QWEN_CUDA_GRAPHS": "off",
            "VOXGATE_QWEN_MAX_FRAMES": "30",
            "VOXGATE_MODEL": "/models/tiny",
            "VOXGATE_VOICES_DIR": "/var/lib/voxgate/voices",
        }
    )
    engine = create_engine(s.engine, **s.engine_options())
    assert engine.voices_dir == "/var/lib/voxgate/voices"  # cloned voices survive a restart
    assert engine.name == "qwen" and not engine.loaded  # building it loads nothing
    assert engine.default_voice() == "ryan"
    assert engine.model_id == "/models/tiny" and engine.runtime_kind == "batched"
    assert engine.policy.streaming is False and engine.policy.first_frames == 2
    assert engine.policy.context_frames == 50 and engine.policy.chunk_frames == 8
    assert engine.concurrency == 12 and engine.cuda_graphs is False and engine.max_frames == 30
    # Streaming is the default; slots default by device (8 on a CPU host).
    default = create_engine("qwen", **from_env({"VOXGATE_ENGINE": "qwen"}).engine_options())
    assert default.policy.streaming is True and default.policy.first_frames == 3
    assert default.concurrency == (64 if torch_cuda() else 8)


def torch_cuda() -> bool:
    from tts_core.cuda import cuda_available

    return cuda_available()


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


def test_the_readme_settings_table_lists_every_setting_with_its_flag_and_default() -> None:
    """The README table is what operators read: it must not drift from `Settings`."""
    import re
    from dataclasses import fields
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    row = re.compile(
        r"^\| `VOXGATE_(?P<var>[A-Z0-9_]+)` \| `(?P<flag>--[a-z0-9-]+)` \| (?P<default>[^|]+) \|",
        re.MULTILINE,
    )
    rows = {m["var"]: (m["flag"], m["default"]) for m in row.finditer(readme)}
    expected = {f.name.upper(): f for f in fields(Settings)}
    assert sorted(set(expected) - set(rows)) == []  # every setting is documented
    assert sorted(set(rows) - set(expected)) == []  # and nothing that does not exist
    for name, f in expected.items():
        flag, default = rows[name]
        assert flag == "--" + f.name.replace("_", "-"), name
        if isinstance(f.default, int | float) and not isinstance(f.default, bool):
            shown = default.strip().strip("`")
            assert float(shown) == float(f.default), (name, shown, f.default)
