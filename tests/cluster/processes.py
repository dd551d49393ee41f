"""Real components for the cluster tests: Debian's redis-server and gateway replicas, as processes.

Nothing here is faked: Redis is the `redis-server` binary on a loopback port
(no persistence, a password, so a restart loses every key, as a crash would),
and each replica is `python -m gateway serve` with the `VOXGATE_*` settings a
user sets. A missing `redis-server` fails the test loudly (scripts/test
installs it): a cluster test that skips would pass without testing anything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.servers import Server, free_port, spawn, wait_started

REDIS_PASSWORD = "redis-pw-7f3a9c1e"
CLUSTER_SECRET = "cluster-secret-5d2b8e6f0a"
API_KEY = "key-alpha-0001"
OTHER_KEY = "key-bravo-0002"
TTL_S = 3.0


def require(binary: str) -> str:
    """The binary's path, or a failed test that says how to get it (never a skip)."""
    path = shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        pytest.fail(f"{binary} is not installed: scripts/test installs it (apt-get install)")
    return path


class RedisServer:
    """One redis-server on a loopback port; `restart()` keeps the port and loses the data."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require("redis-server")
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://:{REDIS_PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "redis.log", "ab")  # the process writes it; closed here after
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--requirepass", REDIS_PASSWORD, "--dir", str(self.workdir),
             "--protected-mode", "yes"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 10
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {self.log_tail()}")
            time.sleep(0.05)

    def answers(self) -> bool:
        with contextlib.suppress(OSError):
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(f"AUTH {REDIS_PASSWORD}\r\nPING\r\n".encode())
                got = b""
                while b"PONG" not in got:
                    chunk = sock.recv(100)
                    if not chunk:
                        return False
                    got += chunk
                return True
        return False

    def command(self, *args: str) -> str:
        """One command through redis-cli (to look at the directory from outside)."""
        cli = require("redis-cli")
        out = subprocess.run(
            [cli, "-p", str(self.port), "-a", REDIS_PASSWORD, "--no-auth-warning", *args],
            capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
        return out.stdout.strip()

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
        return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


@dataclass
class Replica:
    """A gateway replica: what the fake carriers and apps need to reach it."""

    server: Server
    audiosocket_port: int

    @property
    def ws(self) -> str:
        return self.server.ws

    @property
    def http(self) -> str:
        return self.server.http

    @property
    def port(self) -> int:
        return self.server.port

    def log(self) -> str:
        return self.server.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye, as a crashed host."""
        if self.server.proc.poll() is None:
            self.server.proc.kill()
            self.server.proc.wait(5)

    def stop(self) -> None:
        self.server.stop()


def replica_env(redis_url: str, **settings: Any) -> dict[str, str]:
    env = {
        "VOXGATE_ENGINE": "sim",
        "VOXGATE_RENDER_PIECE_MS": "0",
        "VOXGATE_CACHE_ENTRIES": "0",
        "VOXGATE_IDLE_UNLOAD_S": "0",
        "VOXGATE_LOG_LEVEL": "info",
        "VOXGATE_API_KEYS": f"{API_KEY},{OTHER_KEY}",
        "VOXGATE_CLUSTER_TTL_S": str(TTL_S),
        "VOXGATE_CLUSTER_SECRET": CLUSTER_SECRET,
    }
    if redis_url:
        env["VOXGATE_REDIS_URL"] = redis_url
    env.update({f"VOXGATE_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def start_replica(
    name: str, redis_url: str, log_dir: Path, env: Mapping[str, str] | None = None, **settings: Any
) -> Replica:
    """A replica on free ports (HTTP and AudioSocket), once it answers `/healthz`."""
    port, audiosocket_port = free_port(), free_port()
    full = replica_env(redis_url, audiosocket_port=audiosocket_port, **settings) | dict(env or {})
    argv = [sys.executable, "-m", "gateway", "serve", "--port", str(port)]
    server = wait_started(spawn(name, argv, full, port, log_dir), "/healthz", 60)
    return Replica(server, audiosocket_port)
