"""The command line as a new user meets it: `voxgate say` for IVR prompts, `serve` refusing
bad configuration with one clear line, the examples printing their usage."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gateway.cli import build_parser, main
from telephony.g711 import ulaw_decode

REPO = Path(__file__).resolve().parent.parent


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def wav_chunks(data: bytes) -> dict[bytes, bytes]:
    out, pos = {}, 12
    while pos < len(data):
        name, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        out[name] = data[pos + 8 : pos + 8 + size]
        pos += 8 + size + size % 2
    return out


def test_say_writes_telephone_mulaw_wav(tmp_path) -> None:
    out = tmp_path / "hold.wav"
    assert (
        main(["say", "Please hold.", "-o", str(out), "--rate", "8000", "--encoding", "mulaw"]) == 0
    )
    parts = wav_chunks(out.read_bytes())
    tag, channels, rate, _, align, bits, _ = struct.unpack("<HHIIHHH", parts[b"fmt "])
    assert (tag, channels, rate, align, bits) == (7, 1, 8000, 1, 8)
    pcm = np.frombuffer(ulaw_decode(parts[b"data"]), "<i2").astype(float)
    assert 0.5 < len(pcm) / 8000 < 2.5  # "Please hold." is about a second of speech
    assert np.sqrt(np.mean(pcm**2)) > 300  # and it is speech, not silence


def test_say_refuses_alaw_at_a_wideband_rate(tmp_path, capsys) -> None:
    out = tmp_path / "x.wav"
    args = ["say", "Hi.", "-o", str(out), "--rate", "16000", "--encoding", "alaw"]
    assert main(args) == 2
    assert "8000" in capsys.readouterr().err
    assert not out.exists()


def test_say_help_shows_only_its_own_options() -> None:
    say = build_parser()._subparsers._group_actions[0].choices["say"]  # type: ignore[union-attr]
    text = say.format_help()
    for option in ("--rate", "--encoding", "--voice", "--engine", "--language", "--output"):
        assert option in text
    for server_only in ("--port", "--api-keys", "--audiosocket-port", "--max-sessions"):
        assert server_only not in text


def test_serve_refuses_a_voice_file_that_does_not_exist() -> None:
    result = run("serve", "--voice", "/nonexistent/voice.onnx", timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "voxgate: voice file not found: /nonexistent/voice.onnx"


@pytest.mark.parametrize("which", ["--port", "--audiosocket-port"])
def test_a_port_in_use_is_one_clear_line(which) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        other = free.getsockname()[1]
        free.close()
        args = ["serve", "--port", str(other), "--audiosocket-port", str(other + 1)]
        args[args.index(which) + 1] = str(port)
        result = run(*args, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Address already in use" in result.stderr


def test_examples_print_usage_without_arguments() -> None:
    result = subprocess.run(
        [sys.executable, "examples/speak_to_wav.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


def test_say_writes_the_readme_example_at_the_engine_rate(tmp_path) -> None:
    # The README's first command: no --rate, no --encoding; the bundled voice speaks 22050 Hz.
    import wave

    out = tmp_path / "x.wav"
    result = run("say", "Hi there.", "-o", str(out))
    assert result.returncode == 0, result.stderr
    with wave.open(str(out), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(float)
    assert 0.3 < len(pcm) / 22050 < 2.0
    assert np.sqrt(np.mean(pcm**2)) > 300


def test_serve_json_logs_carry_no_terminal_colour_codes() -> None:
    # uvicorn attaches an ANSI-coloured `color_message` to its startup and shutdown lines
    # only, so this runs the real server through both.
    import json
    import signal
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--engine", "sim", "--port", str(port),
         "--audiosocket-port", "0", "--log-format", "json"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # The port is bound before uvicorn starts: wait for an answer, not a connection.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    said = [line["msg"] for line in lines]
    assert any(m.startswith("Started server process") for m in said), said
    assert any(m.startswith("Finished server process") for m in said), said
    assert not [line for line in lines if "color_message" in line]
    assert "\x1b[" not in err
